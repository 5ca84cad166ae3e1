package app

import (
	"strings"
	"testing"
)

// Bad serve flags are usage errors (exit 2) that say what is wrong, before
// anything connects to a cluster.
func TestServeFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--data-dir is required"},
		{[]string{"serve", "--data-dir", "d", "--audit-window", "a week"}, "invalid --audit-window"},
		{[]string{"serve", "--data-dir", "d", "--audit-interval", "-1m"}, "cannot be negative"},
		{[]string{"serve", "--data-dir", "d", "--audit-opt-out-label", "redline.io/audit"}, "write key=value"},
		{[]string{"serve", "--data-dir", "d", "--namespace-label-key", "not a key!"}, "invalid --namespace-label-key"},
		{[]string{"serve", "--data-dir", "d", "--audit-write-qps", "0"}, "--audit-write-qps must be positive"},
		{[]string{"serve", "--data-dir", "d", "--mode", "loud"}, "invalid --mode"},
	}
	for _, tt := range tests {
		_, errOut, code := run(t, "", tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDevFlags checks `redline dev`'s flags: defaults, --once, and bad
// values as usage errors (exit status 2) before anything starts.
func TestDevFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantErr   string
		wantKeep  bool
		wantAddr  string
		wantDirIn string
	}{
		{name: "defaults", wantKeep: true, wantAddr: "127.0.0.1:8443", wantDirIn: ".redline"},
		{name: "once", args: []string{"--once"}, wantKeep: false, wantAddr: "127.0.0.1:8443", wantDirIn: ".redline"},
		{name: "keep-running off", args: []string{"--keep-running=false", "--dir", "/tmp/x"}, wantKeep: false, wantAddr: "127.0.0.1:8443", wantDirIn: "/tmp/x"},
		{name: "bad address", args: []string{"--api-bind-address", "8443"}, wantErr: "invalid --api-bind-address"},
		{name: "bad webhook port", args: []string{"--webhook-port", "70000"}, wantErr: "--webhook-port 70000"},
		{name: "empty dir", args: []string{"--dir", ""}, wantErr: "--dir cannot be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &DevOptions{}
			fs := pflag.NewFlagSet("dev", pflag.ContinueOnError)
			fs.SetOutput(&bytes.Buffer{})
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if tc.wantErr != "" {
				var ue usageError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ue) {
					t.Fatalf("Validate() = %v, want a usage error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.KeepRunning != tc.wantKeep || o.APIAddress != tc.wantAddr || !strings.Contains(o.Dir, tc.wantDirIn) {
				t.Errorf("options %+v: want keep-running %v, API %s, dir in %s", o, tc.wantKeep, tc.wantAddr, tc.wantDirIn)
			}
		})
	}
}

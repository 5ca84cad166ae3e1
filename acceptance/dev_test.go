package acceptance

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/devcluster"
)

// redlineDev runs `redline dev` as a process of its own (this test binary
// in exec mode, see TestMain) in a fresh directory.
func redlineDev(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	needAssets(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"dev", "--dir", t.TempDir(), "--api-bind-address", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), execEnv+"=1")
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

// clusterPIDs reads the control plane's pids from the progress line
// "Cluster up in ... (API server ..., pids 1 2 3)".
func clusterPIDs(t *testing.T, progress string) []int {
	t.Helper()
	m := regexp.MustCompile(`pids ([0-9 ]+)\)`).FindStringSubmatch(progress)
	if m == nil {
		t.Fatalf("no pids in the progress:\n%s", progress)
	}
	var pids []int
	for _, f := range strings.Fields(m[1]) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Errorf("pids %v: want etcd, kube-apiserver and kube-controller-manager", pids)
	}
	return pids
}

// TestDevOnce runs `redline dev --once` end to end: it exits 0 after a
// summary that names the suggested policies, the namespace to label and
// the what-if's warning, and leaves no process of the cluster behind.
func TestDevOnce(t *testing.T) {
	cmd, stdout, stderr := redlineDev(t, "--once")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("redline dev --once: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("redline dev --once did not finish\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	out := stdout.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
	m := regexp.MustCompile(`Suggested policies: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no suggested policies count in the summary")
	}
	// A suggestion per workload that is not on the host network: the
	// demo's twelve.
	if n, _ := strconv.Atoi(m[1]); n != 12 {
		t.Errorf("%d suggested policies, want 12 (one per demo workload)", n)
	}
	// The simulated day depends on the hour it ends (the nightly job runs
	// at 02:00): the summary must report what the ingest API recorded.
	recorded := regexp.MustCompile(`(\d+) connections recorded`)
	fed, summarised := recorded.FindStringSubmatch(stderr.String()), recorded.FindStringSubmatch(out)
	if fed == nil || summarised == nil || fed[1] != summarised[1] {
		t.Errorf("connections recorded: the ingest said %v, the summary %v; want the same count", fed, summarised)
	} else if n, _ := strconv.Atoi(fed[1]); n < 1000 {
		t.Errorf("only %d connections recorded from a simulated day", n)
	}
	for _, want := range []string{
		"ops needs label team",
		"kubectl label namespace ops team=<value>",
		"shop-web/frontend[Deployment] -> shop/redis[Deployment] TCP/6379 (DROPPED by the CNI)",
		"Warning: would block shop-web/frontend[Deployment] -> shop/cart[Deployment] TCP/8080",
		"export KUBECONFIG=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	if strings.Contains(out, `"level"`) {
		t.Errorf("Redline's JSON logs reached the summary")
	}
	for _, pid := range clusterPIDs(t, stderr.String()) {
		if devcluster.Running(pid) {
			t.Errorf("process %d of the cluster still runs after redline dev exited", pid)
		}
	}
}

// TestDevServesUntilInterrupted runs `redline dev` as `make run` does: it
// keeps serving after the summary, and Ctrl-C (SIGINT) stops Redline and
// the cluster cleanly, exit status 0.
func TestDevServesUntilInterrupted(t *testing.T) {
	cmd, stdout, stderr := redlineDev(t, "--no-traffic")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(4 * time.Minute)
	for !strings.Contains(stdout.String(), "Serving until Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("redline dev exited: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("redline dev did not get to serving\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		case <-time.After(200 * time.Millisecond):
		}
	}
	pids := clusterPIDs(t, stderr.String())
	for _, pid := range pids {
		if !devcluster.Running(pid) {
			t.Errorf("process %d of the cluster is not running while redline dev serves", pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("redline dev after SIGINT: %v\nstderr:\n%s", err, stderr)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("redline dev did not stop after SIGINT\nstderr:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "Stopped.") {
		t.Errorf("no clean stop reported:\n%s", stderr)
	}
	for _, pid := range pids {
		if devcluster.Running(pid) {
			t.Errorf("process %d of the cluster still runs after Ctrl-C", pid)
		}
	}
}

// lockedBuffer is written by a process's output copier and read by the
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

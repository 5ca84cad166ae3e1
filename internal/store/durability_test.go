package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

// The durability tests run TestHelperIngestChild in a child process (this
// test binary again) that records flows into a store as fast as it can and
// reports on stdout what it knows to be stored.
const (
	childDirEnv  = "REDLINE_STORE_CHILD_DIR"
	childModeEnv = "REDLINE_STORE_CHILD_MODE" // "kill": report flushes; "term": report records, close on SIGTERM
)

var sink = wl("crash", "sink")

func TestHelperIngestChild(t *testing.T) {
	dir, mode := os.Getenv(childDirEnv), os.Getenv(childModeEnv)
	if dir == "" {
		t.Skip("helper process of the durability tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s, err := store.Open(ctx, store.Options{Dir: dir, FlushInterval: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	var recorded uint64
	last := time.Now()
	for ctx.Err() == nil {
		for range 1000 {
			k := tcp(wl("crash", "src-"+strconv.FormatUint(recorded%500, 10)), sink, 8080)
			s.Record(k, time.Now(), flow.VerdictForwarded, nil, nil)
			recorded++
		}
		if time.Since(last) < 50*time.Millisecond {
			continue
		}
		last = time.Now()
		switch mode {
		case "kill":
			// Everything recorded before Flush is stored when it returns.
			n := recorded
			if err := s.Flush(ctx); err != nil {
				if ctx.Err() != nil {
					break
				}
				fmt.Println("error", err)
				os.Exit(3)
			}
			fmt.Println("flushed", n)
		case "term":
			fmt.Println("recorded", recorded)
		}
	}
	// SIGTERM: what the server does on shutdown.
	if err := s.Close(); err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("closed", recorded)
}

// child is a running TestHelperIngestChild.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
}

func startChild(t *testing.T, dir, mode string) *child {
	t.Helper()
	c := &child{lines: make(chan string, 1024)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperIngestChild$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childModeEnv+"="+mode)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return c
}

// waitFor reads lines until n lines start with word; it returns the
// number on the last of them.
func (c *child) waitFor(t *testing.T, word string, n int) uint64 {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	var last uint64
	for seen := 0; seen < n; {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child ended early; stderr:\n%s", c.stderr.String())
			}
			if v, found := lineValue(t, line, word); found {
				last = v
				seen++
			}
		case <-timeout:
			t.Fatalf("no %d %q lines from the child within 2 minutes; stderr:\n%s", n, word, c.stderr.String())
		}
	}
	return last
}

func lineValue(t *testing.T, line, word string) (uint64, bool) {
	t.Helper()
	if strings.HasPrefix(line, "error ") {
		t.Fatalf("child: %s", line)
	}
	v, ok := strings.CutPrefix(line, word+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("child line %q: %v", line, err)
	}
	return n, true
}

// storedFlows reopens dir and adds up what reached the sink.
func storedFlows(t *testing.T, dir string) uint64 {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("reopen after the child: %v", err)
	}
	defer s.Close()
	ingress, _, err := s.WorkloadEdges(context.Background(), sink, time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("query after reopen: %v", err)
	}
	// The store keeps working: record, flush, query.
	s.Record(tcp(wl("crash", "after"), sink, 8080), time.Now(), flow.VerdictForwarded, nil, nil)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("flush after reopen: %v", err)
	}
	return sumCounts(ingress)
}

func TestKill9MidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dir := t.TempDir()
	c := startChild(t, dir, "kill")
	flushed := c.waitFor(t, "flushed", 5)
	// Somewhere in the next flush interval: mid-ingest, maybe mid-flush.
	time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill are still in the pipe.
	for line := range c.lines {
		if v, ok := lineValue(t, line, "flushed"); ok {
			flushed = v
		}
	}
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL; stderr:\n%s", err, c.stderr.String())
	}
	got := storedFlows(t, dir)
	t.Logf("child reported %d flows flushed before SIGKILL; the reopened store holds %d", flushed, got)
	if got < flushed {
		t.Errorf("after SIGKILL the store holds %d flows, fewer than the %d the child had flushed", got, flushed)
	}
}

func TestSIGTERMFlushesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dir := t.TempDir()
	c := startChild(t, dir, "term")
	c.waitFor(t, "recorded", 3)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	closed := c.waitFor(t, "closed", 1)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child after SIGTERM: %v; stderr:\n%s", err, c.stderr.String())
	}
	if got := storedFlows(t, dir); got != closed {
		t.Errorf("after SIGTERM the store holds %d flows, the child recorded %d", got, closed)
	}
}

//go:build unix

package health

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
)

func scriptSpec(script string, timeout time.Duration) *CheckSpec {
	return &CheckSpec{
		CheckDefinition: CheckDefinition{ScriptArgs: []string{"/bin/sh", "-c", script}, Interval: time.Second, Timeout: timeout},
		Type:            TypeScript,
		OutputMaxSize:   DefaultOutputMaxSize,
	}
}

func TestScriptCheckExitCodes(t *testing.T) {
	cases := []struct {
		script, status, output string
	}{
		{"echo all good", StatusPassing, "all good\n"},
		{"echo degraded; exit 1", StatusWarning, "degraded\n"},
		{"echo broken >&2; exit 2", StatusCritical, "broken\n"},
		{"exit 3", StatusCritical, "exit status 3"},
	}
	for _, tc := range cases {
		t.Run(tc.script, func(t *testing.T) {
			clk := clock.NewFake(testStart)
			status, output := scriptProbe(scriptSpec(tc.script, 30*time.Second), clk)(context.Background())
			if status != tc.status || output != tc.output {
				t.Fatalf("%s %q, want %s %q", status, output, tc.status, tc.output)
			}
			if clk.Pending() != 0 {
				t.Fatal("timeout timer left pending")
			}
		})
	}
}

func TestScriptCheckOutputCapped(t *testing.T) {
	script := "printf 'HEAD'; i=0; while [ $i -lt 1000 ]; do printf '0123456789'; i=$((i+1)); done"
	status, output := scriptProbe(scriptSpec(script, 30*time.Second), clock.NewFake(testStart))(context.Background())
	prefix := "Captured 4096 of 10004 bytes\n...\n"
	if status != StatusPassing || !strings.HasPrefix(output, prefix) {
		t.Fatalf("%s %q...", status, output[:min(60, len(output))])
	}
	kept := strings.TrimPrefix(output, prefix)
	if len(kept) != 4096 || strings.Contains(kept, "HEAD") || !strings.HasSuffix(kept, "0123456789") {
		t.Fatalf("kept %d bytes", len(kept))
	}
}

func TestScriptCheckMissingCommand(t *testing.T) {
	spec := scriptSpec("", time.Second)
	spec.ScriptArgs = []string{filepath.Join(t.TempDir(), "no-such-binary")}
	status, output := scriptProbe(spec, clock.NewFake(testStart))(context.Background())
	if status != StatusCritical || !strings.Contains(output, "no such file") {
		t.Fatalf("%s %q", status, output)
	}
}

// TestScriptCheckTimeoutKillsGroup runs a script that leaves a child
// behind; at the timeout (on the fake clock) the whole process group dies.
func TestScriptCheckTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	script := fmt.Sprintf("sleep 300 & echo $! > %s; wait", pidFile)
	clk := clock.NewFake(testStart)
	type res struct{ status, output string }
	done := make(chan res, 1)
	go func() {
		s, o := scriptProbe(scriptSpec(script, 5*time.Second), clk)(context.Background())
		done <- res{s, o}
	}()
	if err := clk.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	var childPID int
	waitFor(t, "child pid", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		childPID, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	clk.Advance(4 * time.Second)
	select {
	case r := <-done:
		t.Fatalf("finished before its timeout: %+v", r)
	default:
	}
	clk.Advance(time.Second)
	var r res
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("script not killed at its timeout")
	}
	if r.status != StatusCritical || r.output != "Timed out (5s) running check" {
		t.Fatalf("%+v", r)
	}
	waitFor(t, "child killed", func() bool { return !processAlive(childPID) })
}

// processAlive reports whether pid runs (zombies count as dead).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestScriptCheckStopKills(t *testing.T) {
	clk := clock.NewFake(testStart)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		_, o := scriptProbe(scriptSpec("sleep 300", time.Hour), clk)(ctx)
		done <- o
	}()
	if err := clk.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case o := <-done:
		if o != "check stopped" {
			t.Fatalf("output %q", o)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cancelled script still running")
	}
}

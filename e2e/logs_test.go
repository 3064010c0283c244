package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestLogFileAndMonitor runs the binary with a small rotating log file and
// `meridian monitor` against it: the monitor shows what the agent logs,
// the log file rotates by size keeping at most 2 old files, and SIGINT
// ends the monitor with status 0.
func TestLogFileAndMonitor(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p := e.startAgent("logs1", "-dev", "-node", "logs1",
		"-log-file", dir+"/", "-log-rotate-bytes", "2048", "-log-rotate-max-files", "2")
	e.waitLeader(startTimeout, "", p)

	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	mon := exec.CommandContext(ctx, binPath, "monitor", "-http-addr="+p.HTTPAddr, "-log-level=debug")
	out, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	mon.Stderr = &stderr
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	var reloadsSeen atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `msg="configuration reloaded"`) {
				reloadsSeen.Add(1)
			}
		}
	}()

	maxFiles := 0
	e.waitFor(30*time.Second, "monitor lines and two rotated log files", func() error {
		if err := p.API.Agent().Reload(); err != nil {
			return err
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		maxFiles = max(maxFiles, len(entries))
		rotated := 0
		for _, en := range entries {
			if ok, _ := filepath.Match("meridian-*.log", en.Name()); ok {
				rotated++
			}
		}
		if reloadsSeen.Load() == 0 || rotated < 2 {
			return fmt.Errorf("%d reloads seen by the monitor, %d rotated files", reloadsSeen.Load(), rotated)
		}
		return nil
	})
	// Two more rotations' worth of lines: still at most 2 old files.
	for range 40 {
		if err := p.API.Agent().Reload(); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 || maxFiles > 3 {
		t.Errorf("log dir holds %d files (at most %d seen), want meridian.log and 2 rotated", len(entries), maxFiles)
	}
	cur, err := os.ReadFile(filepath.Join(dir, "meridian.log"))
	if err != nil || len(cur) > 2048 {
		t.Errorf("current log file: %d bytes, %v", len(cur), err)
	}

	if err := mon.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-readDone
	err = mon.Wait()
	var exit *exec.ExitError
	if ctx.Err() != nil || (err != nil && !errors.As(err, &exit)) || mon.ProcessState.ExitCode() != 0 {
		t.Fatalf("monitor after SIGINT: %v (ctx %v), stderr %q", err, ctx.Err(), stderr.String())
	}
}

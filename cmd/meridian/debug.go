package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
)

const debugHelp = `Usage: meridian debug [options]

  Captures what a bug report or an operator needs from an agent, over a
  while, into <output>.tar.gz (or the directory <output> with
  -archive=false), as Consul's debug command does:

    agent     agent.json: the agent's configuration and state (/v1/agent/self)
    members   members.json: the LAN members it sees
    metrics   <time>/metrics.json every -interval
    logs      meridian.log: its log lines at debug level for -duration
    pprof     <time>/profile.prof, heap.prof, goroutine.prof and trace.out
              every -interval (the agent needs enable_debug; without it
              this capture is skipped with a warning)

  Ctrl-C ends the capture early; what was captured is kept.

      $ meridian debug -duration 1m -interval 15s`

// debugCaptures are the capture names -capture takes, in Consul's order.
var debugCaptures = []string{"agent", "members", "metrics", "logs", "pprof"}

const debugMinInterval = time.Second

func runDebug(e *cmdEnv, args []string) int {
	var (
		h                  httpFlags
		duration, interval time.Duration
		output             string
		archive            bool
		captures           multiFlag
	)
	fs := e.newFlagSet("debug")
	h.register(fs, false)
	fs.DurationVar(&duration, "duration", 2*time.Minute, "How long to capture dynamic information (metrics, logs, pprof).")
	fs.DurationVar(&interval, "interval", 30*time.Second, "How often to capture metrics and profiles; at least 1s.")
	fs.StringVar(&output, "output", "", "`path` of the output, without .tar.gz (default meridian-debug-<unix time>).")
	fs.BoolVar(&archive, "archive", true, "Write a .tar.gz and remove the directory.")
	fs.Var(&captures, "capture", "What to capture: "+strings.Join(debugCaptures, ", ")+" (repeatable; default all).")
	if code, ok := e.parse(fs, debugHelp, args); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return e.usageError("debug", "Too many arguments (expected 0, got %d)", fs.NArg())
	case interval < debugMinInterval:
		return e.usageError("debug", "-interval must be at least %s, got %s", debugMinInterval, interval)
	case duration < interval:
		return e.usageError("debug", "-duration (%s) must be at least -interval (%s)", duration, interval)
	}
	if len(captures) == 0 {
		captures = debugCaptures
	}
	for _, c := range captures {
		if !slices.Contains(debugCaptures, c) {
			return e.usageError("debug", "Unknown -capture %q: want one of %s", c, strings.Join(debugCaptures, ", "))
		}
	}
	if output == "" {
		output = fmt.Sprintf("meridian-debug-%d", time.Now().Unix())
	}
	output = strings.TrimSuffix(output, ".tar.gz")
	for _, p := range []string{output, output + ".tar.gz"} {
		if _, err := os.Stat(p); err == nil {
			return e.fail(exitError, "Error: %s already exists", p)
		}
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	// The agent must answer before anything is written.
	self, err := client.Agent().Self()
	if err != nil {
		return e.fail(exitError, "Error querying the agent: %v", err)
	}
	if err := os.MkdirAll(output, 0o700); err != nil {
		return e.fail(exitError, "Error: %v", err)
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &debugRun{e: e, client: client, dir: output, captures: captures}
	fmt.Fprintf(e.stdout, "==> Capturing static information from %s\n", client.config.Address)
	if d.wants("agent") {
		d.writeJSON("agent.json", self)
	}
	if d.wants("members") {
		members, err := client.Agent().Members(false)
		d.keep("members", err)
		if err == nil {
			d.writeJSON("members.json", members)
		}
	}
	fmt.Fprintf(e.stdout, "==> Capturing dynamic information for %s, every %s\n", duration, interval)
	d.dynamic(ctx, duration, interval)
	if d.failed != nil {
		return e.fail(exitError, "Error: %v", d.failed)
	}
	if !archive {
		fmt.Fprintf(e.stdout, "==> Saved debug directory: %s\n", output)
		return exitOK
	}
	if err := tarGz(output, output+".tar.gz"); err != nil {
		return e.fail(exitError, "Error writing the archive: %v", err)
	}
	if err := os.RemoveAll(output); err != nil {
		return e.fail(exitError, "Error: %v", err)
	}
	fmt.Fprintf(e.stdout, "==> Saved debug archive: %s.tar.gz\n", output)
	return exitOK
}

// debugRun is one capture: what it writes, and the first write that
// failed (a capture the agent refuses is a warning, a file that cannot be
// written an error).
type debugRun struct {
	e        *cmdEnv
	client   *agentClient
	dir      string
	captures []string

	mu     sync.Mutex
	failed error
	warned map[string]bool
}

func (d *debugRun) wants(c string) bool { return slices.Contains(d.captures, c) }

// keep warns, once per capture, of an error of the agent's.
func (d *debugRun) keep(capture string, err error) {
	if err == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.warned == nil {
		d.warned = map[string]bool{}
	}
	if !d.warned[capture] {
		d.warned[capture] = true
		fmt.Fprintf(d.e.stderr, "[WARN] %s not captured: %v\n", capture, err)
	}
}

func (d *debugRun) write(rel string, data []byte) {
	path := filepath.Join(d.dir, rel)
	err := os.MkdirAll(filepath.Dir(path), 0o700)
	if err == nil {
		err = os.WriteFile(path, data, 0o600)
	}
	d.fail(err)
}

// fail records the first error writing the output.
func (d *debugRun) fail(err error) {
	if err == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed == nil {
		d.failed = err
	}
}

func (d *debugRun) writeJSON(rel string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		d.write(rel, []byte(err.Error()))
		return
	}
	d.write(rel, append(data, '\n'))
}

// dynamic captures logs for the whole duration and metrics and profiles
// every interval, until the duration ends or ctx does.
func (d *debugRun) dynamic(ctx context.Context, duration, interval time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	if d.wants("logs") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.logs(ctx)
		}()
	}
	defer wg.Wait()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		d.interval(ctx, interval)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// interval captures one round of metrics and profiles into a directory
// named by its time.
func (d *debugRun) interval(ctx context.Context, interval time.Duration) {
	at := time.Now().UTC().Format("2006-01-02T15-04-05Z")
	if d.wants("metrics") {
		m, err := d.client.Agent().Metrics()
		d.keep("metrics", err)
		if err == nil {
			d.writeJSON(filepath.Join(at, "metrics.json"), m)
		}
	}
	if !d.wants("pprof") {
		return
	}
	// The CPU profile and the trace take part of the interval each.
	secs := max(1, int(interval.Seconds()/4))
	timed := func(name string) func() ([]byte, error) {
		return func() ([]byte, error) {
			body, err := d.client.Debug().PProf(ctx, name, secs)
			if err != nil {
				return nil, err
			}
			defer body.Close()
			return io.ReadAll(body)
		}
	}
	for _, p := range []struct {
		file string
		get  func() ([]byte, error)
	}{
		{"profile.prof", timed("profile")}, {"trace.out", timed("trace")},
		{"heap.prof", d.client.Debug().Heap}, {"goroutine.prof", d.client.Debug().Goroutine},
	} {
		data, err := p.get()
		if err != nil {
			var se api.StatusError
			if errors.As(err, &se) && (se.Code == 403 || se.Code == 404) {
				err = fmt.Errorf("%w (the agent needs enable_debug, or a token with operator:read)", err)
			}
			if ctx.Err() == nil {
				d.keep("pprof", err)
			}
			return
		}
		d.write(filepath.Join(at, p.file), data)
	}
}

// logs writes the agent's log lines at debug level until ctx ends.
func (d *debugRun) logs(ctx context.Context) {
	stop := make(chan struct{})
	lines, err := d.client.Agent().Monitor("debug", stop, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		d.keep("logs", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(d.dir, "meridian.log"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		close(stop)
		d.fail(err)
		return
	}
	defer f.Close()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return
			}
			fmt.Fprintln(f, strings.TrimRight(line, "\n"))
		case <-ctx.Done():
			close(stop)
			return
		}
	}
}

// tarGz writes dir's files into a gzipped tar at path, names relative to
// dir's parent (the archive unpacks to the directory).
func tarGz(dir, path string) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	base := filepath.Dir(dir)
	err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	err = errors.Join(err, tw.Close(), gz.Close(), out.Close())
	if err != nil {
		os.Remove(path)
	}
	return err
}

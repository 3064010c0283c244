package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meridian-io/meridian/internal/logging"
)

const monitorHelp = `Usage: meridian monitor [options]

  Shows the local agent's log lines as they are written, at -log-level and
  above (which may be below the agent's own level), until interrupted. A
  line "Monitor dropped N logs" means this reader fell behind and N lines
  were skipped for it; the agent never waits for a monitor.`

func runMonitor(e *cmdEnv, args []string) int {
	var (
		h        httpFlags
		level    string
		jsonLogs bool
	)
	fs := e.newFlagSet("monitor")
	h.register(fs, false)
	fs.StringVar(&level, "log-level", "info", "Log `level` to show: trace, debug, info, warn or error.")
	fs.BoolVar(&jsonLogs, "log-json", false, "Show the lines as JSON objects.")
	if code, ok := e.parse(fs, monitorHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("monitor", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	if _, err := logging.ParseLevel(level); err != nil {
		return e.usageError("monitor", "%v", err)
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	ctx, stopSignals := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	stop := make(chan struct{})
	q := client.read(ctx)
	agent := client.Agent()
	monitor := agent.Monitor
	if jsonLogs {
		monitor = agent.MonitorJSON
	}
	lines, err := monitor(level, stop, q)
	if err != nil {
		return e.fail(exitError, "Error starting monitor: %v", err)
	}
	return e.followMonitor(ctx, stop, lines)
}

// followMonitor prints lines until ctx ends (exit 0) or the agent ends the
// stream (exit 1). The api client's reader stops once stop is closed and
// it has handed over what it holds, so lines is drained until closed.
func (e *cmdEnv) followMonitor(ctx context.Context, stop chan struct{}, lines <-chan string) int {
	code := exitOK
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			if line != "" {
				fmt.Fprintln(e.stdout, line)
				continue
			}
			// The stream ended: the agent went away, or ctx ended.
			if ctx.Err() == nil {
				code = e.fail(exitError, "Remote side ended the monitor! This usually means that the remote side has exited or crashed.")
			}
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	close(stop)
	for range lines {
	}
	return code
}

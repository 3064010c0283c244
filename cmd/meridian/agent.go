package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/gctune"
	"github.com/meridian-io/meridian/internal/logging"
)

// serverGCPercent is the GC target a server runs with unless the operator
// set GOGC: 300 rather than Go's 100. A server's live heap is small next
// to the garbage every request makes; collecting a third as often bought
// 4-21% more writes per second in paired benchmark runs, for a heap that
// may grow to four times the live one instead of twice. Client agents
// keep Go's default.
func serverGCPercent(server bool, gogcEnv string) (int, bool) {
	if !server || gogcEnv != "" {
		return 0, false
	}
	return 300, true
}

// serverGCHeadroom bounds how far a server's heap may grow over its live
// data before a collection: GOGC 300 holds while the live data is under
// ~11 MiB (an empty or small store, where it buys the write rate), then
// falls as the live data grows (100 at 32 MiB, the floor of 50 from 64
// MiB). With 512 MiB, 10,000 catalog instances (39 MiB live) grew the
// leader's RSS by 103-110 MiB and 10,000 held blocking queries an agent's
// by 256 MiB; with 32 MiB, by 57-59 and 191 MiB, for puts at 0.98-1.01
// and reads at 0.95 of GOGC=300's rate. A bound that followed the load
// (512 MiB while allocating 16 MiB/s or more, 16-32 MiB when quiet, the
// busy spell's heap returned at its end) kept the rate but left the
// catalog at +66-77 MiB: what a busy spell allocates at GOGC 300 stays
// spread over more of the heap (PERFORMANCE.md).
const serverGCHeadroom = 32 << 20

// runAgent runs an agent in the foreground until a signal or a leave
// through the API stops it.
func runAgent(args []string) int {
	// Signals are caught from the first moment: one that arrives while
	// the configuration loads waits in the channel and stops the agent
	// as soon as it is built.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	cfg, warnings, err := config.Load(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		return 1
	}
	logger, closeSyslog, err := agentLogger(cfg, os.Stderr, dialLocalSyslog)
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		return 1
	}
	defer closeSyslog()
	for _, w := range warnings {
		logger.Warn(w)
	}
	agent.Version, agent.Revision = version, revision
	if pct, set := serverGCPercent(cfg.Server, os.Getenv("GOGC")); set {
		// Large stores get less: the heap grows by at most
		// serverGCHeadroom over the live data (see gctune).
		defer gctune.CapHeadroom(pct, serverGCHeadroom)()
		logger.Debug("garbage collector tuned for a server", "gc_percent", pct, "max_headroom_mib", serverGCHeadroom>>20)
	}
	a, err := agent.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		return 1
	}
	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "agent: write pid file: %v\n", err)
			return 1
		}
		defer os.Remove(cfg.PidFile)
	}
	return superviseAgent(a, cfg, logger, signals)
}

// dialLocalSyslog connects to the local syslog daemon.
func dialLocalSyslog(facility string) (logging.SyslogWriter, func() error, error) {
	w, err := logging.DialSyslog("", "", facility, "meridian")
	if err != nil {
		return nil, nil, err
	}
	return w, w.Close, nil
}

// agentLogger builds the agent's logger: standard error; the log file
// with log_file (rotated as log_rotate_* say); and the local syslog too
// with enable_syslog. A syslog that cannot be reached is not fatal: the
// logger says so once, as a warning, and goes on without it; a log file
// that cannot be opened is an error. The returned func closes the syslog
// connection and the log file.
func agentLogger(cfg *config.Config, stderr io.Writer, dial func(facility string) (logging.SyslogWriter, func() error, error)) (*slog.Logger, func(), error) {
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	std, err := logging.New(cfg.LogLevel, cfg.LogJSON, stderr)
	if err != nil {
		return nil, func() {}, err
	}
	handlers := []slog.Handler{std.Handler()}
	if cfg.LogFile != "" {
		f, err := logging.OpenFile(logging.FileConfig{
			Path:           cfg.LogFile,
			RotateBytes:    int64(cfg.LogRotateBytes),
			RotateDuration: cfg.LogRotateDuration,
			MaxFiles:       cfg.LogRotateMaxFiles,
		})
		if err != nil {
			return nil, func() {}, err
		}
		closers = append(closers, f.Close)
		fl, _ := logging.New(cfg.LogLevel, cfg.LogJSON, f)
		handlers = append(handlers, fl.Handler())
	}
	var syslogErr error
	if cfg.EnableSyslog {
		sys, closeFn, err := dial(cfg.SyslogFacility)
		if err != nil {
			syslogErr = err
		} else {
			closers = append(closers, closeFn)
			sh, err := logging.NewSyslogHandler(cfg.LogLevel, sys)
			if err != nil {
				closeAll()
				return nil, func() {}, err
			}
			handlers = append(handlers, sh)
		}
	}
	l := slog.New(logging.Fanout(handlers...))
	if syslogErr != nil {
		where := "standard error only"
		if cfg.LogFile != "" {
			where = "standard error and the log file only"
		}
		l.Warn("syslog is not reachable; logging to "+where, "error", syslogErr)
	}
	return l, closeAll, nil
}

// notify tells systemd (Type=notify) about the agent's state; a failure
// is logged, never fatal.
func notify(logger *slog.Logger, state string) {
	if err := sdNotify(os.Getenv, state); err != nil {
		logger.Warn("cannot notify the service manager", "error", err)
	}
}

// exitMargin is how long past the shutdown's deadline runAgent waits
// before it returns whatever the shutdown is doing: ShutdownBudget plus
// this stays under systemd's 5 s.
const exitMargin = 250 * time.Millisecond

// superviseAgent starts a and runs it until a signal or a leave through
// the API stops it, and returns the exit code. Start runs in a goroutine
// so that a signal while starting (opening Raft's stores, restoring a
// snapshot, joining) is handled too. The first SIGINT or SIGTERM stops
// the agent within ShutdownBudget+exitMargin, leaving first when the
// configuration says so; a second one returns at once with status 1.
// SIGHUP reloads.
func superviseAgent(a *agent.Agent, cfg *config.Config, logger *slog.Logger, signals <-chan os.Signal) int {
	startCtx, cancelStart := context.WithCancel(context.Background())
	defer cancelStart()
	started := make(chan error, 1)
	// Start's goroutine ends on its own; stopAgent waits for it when a
	// signal comes first, or the process exits under it.
	go func() { started <- a.Start(startCtx) }()
	starting := true
	var stopSig os.Signal // nil after a leave through the API
wait:
	for {
		select {
		case err := <-started:
			if err != nil {
				fmt.Fprintf(os.Stderr, "agent: %v\n", err)
				return 1
			}
			starting = false
			logger.Info("Meridian agent running", "version", version, "http", a.HTTPAddr(), "dns", a.DNSAddr(), "lan", a.LANAddr())
			notify(logger, "READY=1\nSTATUS=running, HTTP on "+a.HTTPAddr()+"\nMAINPID="+strconv.Itoa(os.Getpid()))
		case <-a.ExitCh():
			break wait
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				stopSig = sig
				break wait
			}
			if starting {
				logger.Warn("SIGHUP while starting; not reloading")
				continue
			}
			if err := a.Reload(); err != nil {
				logger.Error("reload failed; the running configuration is unchanged", "error", err)
				notify(logger, "STATUS=reload failed: "+oneLine(err.Error()))
			} else {
				notify(logger, "STATUS=running, configuration reloaded")
			}
		}
	}

	deadline := time.Now().Add(agent.ShutdownBudget)
	leave := (stopSig == syscall.SIGINT && !cfg.SkipLeaveOnInterrupt) || (stopSig == syscall.SIGTERM && cfg.LeaveOnTerminate)
	if stopSig != nil {
		logger.Info("caught signal, shutting down", "signal", stopSig.String(), "leave", leave, "starting", starting)
	}
	cancelStart()
	notify(logger, "STOPPING=1")
	done := make(chan int, 1)
	// The shutdown's goroutine is abandoned only when the process exits.
	go func() { done <- stopAgent(a, logger, started, starting, deadline, leave) }()
	exit := time.NewTimer(time.Until(deadline) + exitMargin)
	defer exit.Stop()
	for {
		select {
		case code := <-done:
			if err := a.ExitErr(); err != nil {
				fmt.Fprintf(os.Stderr, "agent: %v\n", err)
				return 1
			}
			return code
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				continue
			}
			logger.Warn("second signal; exiting at once", "signal", sig.String())
			return 1
		case <-exit.C:
			logger.Error("shutdown: out of time; exiting", "after", agent.ShutdownBudget+exitMargin)
			return 1
		}
	}
}

// stopAgent shuts a down by deadline, after Start has returned if it was
// still running, and returns the exit code: 0 for a complete shutdown.
func stopAgent(a *agent.Agent, logger *slog.Logger, started <-chan error, starting bool, deadline time.Time, leave bool) int {
	if starting {
		wait := time.NewTimer(time.Until(deadline))
		defer wait.Stop()
		select {
		case err := <-started:
			if err != nil {
				// Start has shut the agent down on its way out.
				if errors.Is(err, context.Canceled) && !errors.Is(err, agent.ErrShutdownIncomplete) {
					return 0
				}
				fmt.Fprintf(os.Stderr, "agent: %v\n", err)
				return 1
			}
		case <-wait.C:
			logger.Warn("shutdown: still waiting; giving up on this step", "step", "start")
			return 1
		}
	}
	if err := a.Stop(deadline, leave); err != nil {
		logger.Warn("shutdown", "error", err)
		return 1
	}
	return 0
}

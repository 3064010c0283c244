package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"
)

// releaseTimeout bounds the release of a lock after the child is done.
const releaseTimeout = 30 * time.Second

const lockHelp = `Usage: meridian lock [options] PREFIX CHILD...

  Acquires a lock or semaphore at PREFIX in the KV store and runs CHILD
  while holding it. CHILD gets CONSUL_LOCK_HELD=true and
  MERIDIAN_LOCK_HELD=true in its environment. If the lock is lost, CHILD
  gets SIGTERM and, after a grace period of 5s, SIGKILL. When CHILD exits,
  the lock is released and its session destroyed.

  With -n=1 (the default) one holder at a time runs, through the key
  PREFIX/.lock. A larger -n turns it into a semaphore of N holders: each
  contender writes PREFIX/<session>, and PREFIX/.lock lists the holders.
  Locks and semaphores at the same PREFIX refuse each other.

      $ meridian lock service/backup/lock ./backup.sh
      $ meridian lock -n=3 -timeout=30s service/workers 'run-worker --fast'

  Exit codes: 0 once CHILD ran (or CHILD's code with -child-exit-code), 1
  when the lock could not be acquired (error, -timeout, signal) or was
  lost, 2 for bad usage.`

type lockOptions struct {
	http          httpFlags
	limit         int
	name          string
	timeout       time.Duration
	monitorRetry  int
	childExitCode bool
	shell         bool
	passStdin     bool
	verbose       bool
}

func runLock(e *cmdEnv, args []string) int {
	return e.runLockWith(args, defaultLockTiming())
}

func (e *cmdEnv) runLockWith(args []string, t lockTiming) int {
	var o lockOptions
	fs := e.newFlagSet("lock")
	o.http.register(fs, false)
	fs.IntVar(&o.limit, "n", 1, "Number of holders at once. Above 1 the lock is a semaphore.")
	fs.StringVar(&o.name, "name", "", "Name of the lock's session. Defaults to one naming the prefix and the child.")
	fs.DurationVar(&o.timeout, "timeout", 0, "Longest wait for the lock, such as \"10s\"; 0 waits as long as it takes.")
	fs.IntVar(&o.monitorRetry, "monitor-retry", 3,
		"Number of failed reads in a row (500s, connection errors), 1s apart, tolerated while watching the lock before it counts as lost.")
	fs.BoolVar(&o.childExitCode, "child-exit-code", false, "Exit with the child's exit code instead of 0.")
	fs.BoolVar(&o.shell, "shell", true, "Run a single CHILD argument containing spaces or shell syntax with $SHELL -c (default /bin/sh).")
	fs.BoolVar(&o.passStdin, "pass-stdin", false, "Pass stdin to the child.")
	fs.BoolVar(&o.verbose, "verbose", false, "Print each step on stderr.")
	if code, ok := e.parse(fs, lockHelp, args); !ok {
		return code
	}
	switch {
	case o.limit <= 0:
		return e.usageError("lock", "Lock holder limit must be positive")
	case fs.NArg() < 2:
		return e.usageError("lock", "Key prefix and child command must be specified")
	case o.timeout < 0:
		return e.usageError("lock", "Timeout must be positive")
	case o.monitorRetry < 0:
		return e.usageError("lock", "Number for 'monitor-retry' must be >= 0")
	}
	prefix := strings.Trim(fs.Arg(0), "/")
	if prefix == "" {
		return e.usageError("lock", "Key prefix must not be empty")
	}
	prefix = path.Clean(prefix)
	child := fs.Args()[1:]
	if o.name == "" {
		o.name = fmt.Sprintf("Meridian lock for '%s' at '%s'", strings.Join(child, " "), prefix)
	}
	client, err := o.http.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	run := &lockRun{e: e, o: o, t: t, stdout: &lockedWriter{w: e.stdout}, stderr: &lockedWriter{w: e.stderr}}
	sess := &lockSession{c: client, t: t, name: o.name, verbose: run.verbosef, maxRetry: o.monitorRetry}
	if o.limit == 1 {
		sess.behavior = "release"
		run.lock = &mutex{s: sess, key: lockKey(prefix)}
		run.verbosef("Setting up lock at path: %s", lockKey(prefix))
	} else {
		sess.behavior = "delete"
		run.lock = &semaphore{s: sess, prefix: prefix, limit: o.limit}
		run.verbosef("Setting up semaphore (limit %d) at prefix: %s", o.limit, prefix)
	}
	return run.run(child)
}

// lockRun is one `meridian lock`: acquire, run the child, release.
type lockRun struct {
	e      *cmdEnv
	o      lockOptions
	t      lockTiming
	lock   locker
	stdout io.Writer
	stderr io.Writer
}

func (r *lockRun) verbosef(format string, args ...any) {
	if r.o.verbose {
		fmt.Fprintf(r.stderr, format+"\n", args...)
	}
}

func (r *lockRun) failf(code int, format string, args ...any) int {
	fmt.Fprintln(r.stderr, oneLine(fmt.Sprintf(format, args...)))
	return code
}

func (r *lockRun) run(child []string) int {
	ctx, stopSignals := signal.NotifyContext(r.e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	acquireCtx, cancel := ctx, context.CancelFunc(func() {})
	if r.o.timeout > 0 {
		acquireCtx, cancel = context.WithTimeout(ctx, r.o.timeout)
	}
	defer cancel()
	r.verbosef("Attempting lock acquisition")
	lost, err := r.lock.acquire(acquireCtx)
	if err != nil {
		if rerr := r.release(); rerr != nil {
			r.verbosef("Cleanup after the failed acquisition: %v", rerr)
		}
		switch {
		case ctx.Err() != nil:
			return r.failf(exitError, "Shutdown triggered during lock acquisition")
		case acquireCtx.Err() != nil:
			return r.failf(exitError, "Timeout after %v waiting for the lock", r.o.timeout)
		default:
			return r.failf(exitError, "Lock acquisition failed: %v", err)
		}
	}

	r.verbosef("Starting handler")
	cmd, err := r.startChild(child)
	if err != nil {
		if rerr := r.release(); rerr != nil {
			r.failf(exitError, "Lock release failed: %v", rerr)
		}
		return r.failf(exitError, "Error starting handler: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is read from cmd.ProcessState
		close(done)
	}()

	lockLost := false
	select {
	case <-done:
		r.verbosef("Child terminated, releasing lock")
	case <-ctx.Done():
		r.verbosef("Shutdown triggered, killing child")
		r.stopChild(cmd, done)
	case <-lost:
		lockLost = true
		fmt.Fprintln(r.stderr, "Lock lost, killing child")
		r.stopChild(cmd, done)
	}
	if err := r.release(); err != nil {
		return r.failf(exitError, "Lock release failed: %v", err)
	}
	switch {
	case lockLost:
		return exitError
	case r.o.childExitCode:
		return exitCodeOf(cmd.ProcessState)
	default:
		return exitOK
	}
}

// release gives the lock up within releaseTimeout, whatever happened to
// the command's context.
func (r *lockRun) release() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.e.ctx), releaseTimeout)
	defer cancel()
	return r.lock.release(ctx)
}

// startChild starts the child with the lock variables in its environment,
// in a process group of its own.
func (r *lockRun) startChild(args []string) (*exec.Cmd, error) {
	argv := childCommand(args, r.o.shell, r.e.getenv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "CONSUL_LOCK_HELD=true", "MERIDIAN_LOCK_HELD=true")
	if r.o.passStdin {
		cmd.Stdin = r.e.stdin
	}
	cmd.Stdout = r.stdout
	cmd.Stderr = r.stderr
	// A grandchild that outlives the child must not hold its output open
	// (and the lock with it) forever.
	cmd.WaitDelay = time.Second
	setChildProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// stopChild sends SIGTERM to the child's process group and SIGKILL after
// the grace period, and waits until the child is gone.
func (r *lockRun) stopChild(cmd *exec.Cmd, done <-chan struct{}) {
	r.verbosef("Terminating child pid %d", cmd.Process.Pid)
	if err := terminateChild(cmd.Process); err != nil {
		fmt.Fprintf(r.stderr, "Failed to terminate %d: %v\n", cmd.Process.Pid, err)
	}
	grace := time.NewTimer(r.t.killGrace)
	defer grace.Stop()
	select {
	case <-done:
		r.verbosef("Child terminated")
		return
	case <-grace.C:
	}
	r.verbosef("Child did not exit after grace period of %v, killing pid %d", r.t.killGrace, cmd.Process.Pid)
	if err := killChild(cmd.Process); err != nil {
		fmt.Fprintf(r.stderr, "Failed to kill %d: %v\n", cmd.Process.Pid, err)
	}
	<-done
}

// childCommand is the argv of a child or handler: with shell set, a single
// argument that needs a shell (spaces, quotes, pipes, variables...) runs as
// `$SHELL -c ARG` (/bin/sh without $SHELL), as Consul runs it; anything
// else is executed directly.
func childCommand(args []string, shell bool, getenv func(string) string) []string {
	if shell && len(args) == 1 && strings.ContainsAny(args[0], " \t\n|&;<>()$`\\\"'*?[]#~{}") {
		sh := getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		return []string{sh, "-c", args[0]}
	}
	return args
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
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

	run := &lockRun{e: e, o: o, t: t, client: client, stdout: &lockedWriter{w: e.stdout}, stderr: &lockedWriter{w: e.stderr}}
	run.session = &lockSession{c: client, t: t, verbose: run.verbosef}
	run.prefix = prefix
	return run.run(child)
}

// lockRun is one `meridian lock`: acquire, run the child, release.
type lockRun struct {
	e       *cmdEnv
	o       lockOptions
	t       lockTiming
	client  *agentClient
	prefix  string
	session *lockSession
	lock    locker
	abort   context.CancelFunc // fails the lock's requests at once
	stdout  io.Writer
	stderr  io.Writer
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

// setup creates the session and the official client's lock or semaphore
// on it, as Consul's `consul lock` sets them up.
func (r *lockRun) setup(ctx context.Context) error {
	behavior := api.SessionBehaviorRelease
	if r.o.limit > 1 {
		behavior = api.SessionBehaviorDelete // the contender key goes with the session
	}
	if err := r.session.create(ctx, r.o.name, behavior); err != nil {
		return err
	}
	abortCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	r.abort = abort
	lc, err := r.client.abortableClient(abortCtx, r.t.wait)
	if err != nil {
		return err
	}
	if r.o.limit == 1 {
		key := path.Join(r.prefix, api.DefaultSemaphoreKey)
		r.verbosef("Setting up lock at path: %s", key)
		l, err := lc.LockOpts(&api.LockOptions{
			Key: key, Session: r.session.id, MonitorRetries: r.o.monitorRetry,
			MonitorRetryTime: r.t.monitorPause, LockWaitTime: r.t.wait,
		})
		r.lock = apiMutex{l}
		return err
	}
	r.verbosef("Setting up semaphore (limit %d) at prefix: %s", r.o.limit, r.prefix)
	s, err := lc.SemaphoreOpts(&api.SemaphoreOptions{
		Prefix: r.prefix + "/", Limit: r.o.limit, Session: r.session.id, MonitorRetries: r.o.monitorRetry,
		MonitorRetryTime: r.t.monitorPause, SemaphoreWaitTime: r.t.wait,
	})
	r.lock = apiSemaphore{s}
	return err
}

// acquire waits for the lock until ctx ends. lost is closed once the
// lock is lost, and after release.
func (r *lockRun) acquire(ctx context.Context) (lost <-chan struct{}, err error) {
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	type result struct {
		lost <-chan struct{}
		err  error
	}
	stop := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		lost, err := r.lock.acquire(stop)
		done <- result{lost, err}
	}()
	select {
	case res := <-done:
		if res.err == nil && res.lost == nil {
			res.err = errors.New("acquisition stopped")
		}
		return res.lost, res.err
	case <-ctx.Done():
		close(stop)
		r.abort()
		if res := <-done; res.lost != nil {
			// Acquired as it was interrupted: the lock's client is
			// aborted, so destroying the session gives it up.
			r.verbosef("Lock acquired while shutting down; destroying the session releases it")
			<-res.lost // the monitor's reads fail at once now
		}
		return nil, ctx.Err()
	}
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
	lost, err := r.acquire(acquireCtx)
	if err != nil {
		if derr := r.destroySession(); derr != nil {
			r.verbosef("Cleanup after the failed acquisition: %v", derr)
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
		if rerr := r.release(lost); rerr != nil {
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
	if err := r.release(lost); err != nil {
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

// release gives the lock up, waits for the official client's monitor to
// see it (its goroutine ends with lost), deletes the coordination key if
// nobody uses it and destroys the session.
func (r *lockRun) release(lost <-chan struct{}) error {
	// Past releaseTimeout the lock's requests fail, the monitor's too.
	deadline := time.AfterFunc(releaseTimeout, r.abort)
	defer deadline.Stop()
	var errs []error
	if err := r.lock.release(); err != nil {
		errs = append(errs, fmt.Errorf("failed to release lock: %w", err))
	}
	<-lost
	if len(errs) == 0 {
		switch inUse, err := r.lock.cleanup(); {
		case err != nil:
			errs = append(errs, err)
		case inUse:
			r.verbosef("Cleanup aborted, lock in use")
		default:
			r.verbosef("Cleanup succeeded")
		}
	}
	r.abort()
	if err := r.destroySession(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// destroySession destroys the session within releaseTimeout, whatever
// happened to the command's context.
func (r *lockRun) destroySession() error {
	if r.abort != nil {
		r.abort()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.e.ctx), releaseTimeout)
	defer cancel()
	return r.session.destroy(ctx)
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

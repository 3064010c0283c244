package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ShutdownBudget bounds a whole shutdown, a graceful leave included: an
// agent told to stop by a signal exits within 5 s in any state (systemd's
// TimeoutStopSec=5), with room to spare for the process to exit.
const ShutdownBudget = 4500 * time.Millisecond

// Budgets of the shutdown steps. Each is many times what the step takes
// when nothing is wrong (milliseconds); a step that runs over its budget is
// waiting on something that may never answer. All but the leave fit in
// ShutdownBudget together.
const (
	budgetLeave   = 2 * time.Second // serf's leave broadcast; a server waits to leave Raft
	budgetHTTP    = 500 * time.Millisecond
	budgetDNS     = 100 * time.Millisecond // closing two sockets
	budgetWatches = 200 * time.Millisecond
	// budgetLocal covers a write of anti-entropy that Raft has taken: its
	// caller waits for the outcome, which comes at the commit or, with the
	// other servers gone, once the leader's lease (500 ms) has run out.
	budgetLocal = time.Second
	// budgetRaft covers the FSM's batch and a snapshot in progress, which
	// Raft finishes before it stops.
	budgetRaft = 1300 * time.Millisecond
	budgetRPC  = 300 * time.Millisecond
	budgetLAN  = 400 * time.Millisecond
	budgetWAN  = 300 * time.Millisecond
	budgetPool = 200 * time.Millisecond
	budgetWait = 200 * time.Millisecond
)

// stepMargin is how long before the end of its budget a step that can
// stop waiting (the HTTP server's drain, a server's wait to leave Raft)
// does, so that it still returns within its budget.
const stepMargin = 150 * time.Millisecond

// endingBefore returns a context that ends margin before ctx does.
func endingBefore(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-margin))
	}
	return context.WithCancel(ctx)
}

// ErrShutdownIncomplete means a shutdown step ran over its budget, or was
// skipped for want of time, and was given up on. Everything that makes an
// acknowledged write durable happens before a write is acknowledged
// (Raft's log store syncs every append), so what is left undone costs no
// data; the process should exit all the same.
var ErrShutdownIncomplete = errors.New("shutdown incomplete")

// shutdownStep is one step of an agent's shutdown.
type shutdownStep struct {
	name   string
	budget time.Duration
	// run does the step. Its context ends when the runner stops waiting
	// for it; a step that can stop early should.
	run func(ctx context.Context) error
}

// runShutdownSteps runs steps one after another, each in a goroutine of
// its own, and waits for each at most its budget and never past deadline.
// A step still running then is logged ("shutdown: still waiting", with the
// step's name) and given up on: the next step starts, and the abandoned
// goroutine ends with the step or with the process. Steps that found no
// time left before deadline are skipped and logged. The error joins the
// steps' errors, with ErrShutdownIncomplete for each step given up on.
func runShutdownSteps(log *slog.Logger, deadline time.Time, steps []shutdownStep) error {
	var errs []error
	for _, st := range steps {
		wait := min(st.budget, time.Until(deadline))
		if wait <= 0 {
			log.Warn("shutdown: no time left; skipping", "step", st.name)
			errs = append(errs, fmt.Errorf("%w: %s skipped, no time left", ErrShutdownIncomplete, st.name))
			continue
		}
		if err := runShutdownStep(log, st, wait); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func runShutdownStep(log *slog.Logger, st shutdownStep, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- st.run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done: // it finished as its time ran out
		default:
			log.Warn("shutdown: still waiting; giving up on this step", "step", st.name, "waited", wait)
			return fmt.Errorf("%w: gave up on %s after %s", ErrShutdownIncomplete, st.name, wait)
		}
	}
	log.Debug("shutdown step done", "step", st.name, "took", time.Since(began))
	if err != nil {
		return fmt.Errorf("%s: %w", st.name, err)
	}
	return nil
}

// Shutdown stops everything the agent started, without leaving (see
// Leave), within ShutdownBudget (see Stop). It is idempotent.
func (a *Agent) Shutdown() error {
	return a.Stop(time.Now().Add(ShutdownBudget), false)
}

// Stop leaves the cluster first when leave is set (a server leaves Raft,
// then the agent its gossip pools; see Leave), then stops everything the
// agent started, all by deadline: each step gets a budget, and a step
// that runs over it is logged and given up on (ErrShutdownIncomplete).
// Only the first call does anything; later ones wait for it and return
// nil.
func (a *Agent) Stop(deadline time.Time, leave bool) error {
	var err error
	a.shutdownOnce.Do(func() {
		// The agent stops recording metrics first: a step given up on
		// must not leave its sink receiving the process's library
		// metrics.
		a.metrics.close()
		began := time.Now()
		err = runShutdownSteps(a.log, deadline, a.shutdownSteps(leave))
		a.log.Info("agent stopped", "took", time.Since(began).Round(time.Millisecond), "complete", !errors.Is(err, ErrShutdownIncomplete))
	})
	return err
}

// shutdownSteps are the agent's shutdown in order: what serves requests
// first, then what they use. Raft stops before its stores close, in one
// step, so giving up on it never closes a store under Raft.
func (a *Agent) shutdownSteps(leave bool) []shutdownStep {
	var steps []shutdownStep
	if leave {
		steps = append(steps, shutdownStep{"leave", budgetLeave, func(ctx context.Context) error {
			ctx, cancel := endingBefore(ctx, stepMargin)
			defer cancel()
			a.log.Info("leaving the cluster gracefully")
			if err := a.Leave(ctx); err != nil {
				a.log.Warn("graceful leave failed", "error", err)
			}
			return nil
		}})
	}
	return append(steps,
		shutdownStep{"http", budgetHTTP, func(ctx context.Context) error {
			// Requests in flight see their context end (blocking queries
			// return at once), then the server drains.
			if a.parker != nil {
				a.parker.close()
			}
			a.cancel()
			if a.httpSrv == nil {
				return nil
			}
			ctx, cancel := endingBefore(ctx, stepMargin)
			defer cancel()
			err := a.httpSrv.Shutdown(ctx)
			if err == nil {
				err = a.parker.shutdown(ctx)
			}
			if err != nil {
				a.log.Warn("http requests still in flight; closing their connections", "error", err)
				return errors.Join(a.httpSrv.Close(), a.parker.forceClose())
			}
			// Writes other agents sent through this server get their
			// answers before Raft and RPC stop.
			if a.server != nil {
				if err := a.server.DrainWrites(ctx); err != nil {
					a.log.Warn("writes still being forwarded to the leader at shutdown", "error", err)
				}
			}
			return nil
		}},
		shutdownStep{"dns", budgetDNS, func(ctx context.Context) error {
			if a.dnsSrv == nil {
				return nil
			}
			return a.dnsSrv.ShutdownContext(ctx)
		}},
		shutdownStep{"watches", budgetWatches, func(context.Context) error {
			a.stopWatches()
			return nil
		}},
		shutdownStep{"local", budgetLocal, func(context.Context) error {
			if a.local == nil {
				return nil
			}
			return a.local.Shutdown()
		}},
		shutdownStep{"raft", budgetRaft, func(context.Context) error {
			if a.server == nil {
				return nil
			}
			return a.server.Shutdown()
		}},
		shutdownStep{"rpc", budgetRPC, func(context.Context) error {
			if a.rpcSrv != nil {
				a.rpcSrv.Shutdown()
			}
			if a.mux != nil {
				return a.mux.Close()
			}
			if a.rpcLn != nil {
				a.rpcLn.Close()
			}
			return nil
		}},
		shutdownStep{"lan", budgetLAN, func(context.Context) error {
			if a.lan == nil {
				return nil
			}
			return a.lan.Shutdown()
		}},
		shutdownStep{"wan", budgetWAN, func(context.Context) error {
			if a.wan == nil {
				return nil
			}
			return a.wan.Shutdown()
		}},
		shutdownStep{"pool", budgetPool, func(context.Context) error {
			if a.pool == nil {
				return nil
			}
			return a.pool.Close()
		}},
		shutdownStep{"goroutines", budgetWait, func(context.Context) error {
			a.wg.Wait()
			return nil
		}},
	)
}

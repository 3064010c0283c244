package health

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
)

// runner runs one check until stopped.
type runner interface {
	start()
	// stop ends the runner and waits for it: no result is reported after
	// stop returns.
	stop()
}

// probeFunc runs a check once and returns its raw status and output.
type probeFunc func(ctx context.Context) (status, output string)

// randomStagger returns a random duration in [0, d).
func randomStagger(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// intervalRunner runs a probe every interval on its own goroutine, the
// first time after a random stagger within one interval, and feeds the
// results through the check's thresholds.
type intervalRunner struct {
	loopGoroutine
	checkID  string
	clk      clock.Clock
	interval time.Duration
	probe    probeFunc
	handler  *statusHandler
	logger   *slog.Logger
}

func newIntervalRunner(checkID string, spec *CheckSpec, clk clock.Clock, notify Notifier, logger *slog.Logger, probe probeFunc) *intervalRunner {
	return &intervalRunner{
		loopGoroutine: newLoopGoroutine(),
		checkID:       checkID,
		clk:           clk,
		interval:      spec.Interval,
		probe:         probe,
		handler:       newStatusHandler(checkID, notify, logger, spec),
		logger:        logger,
	}
}

// loopGoroutine is the goroutine of a runner's loop: begin starts it once,
// stop cancels its context and waits for it to end.
type loopGoroutine struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	started bool
}

func newLoopGoroutine() loopGoroutine {
	ctx, cancel := context.WithCancel(context.Background())
	return loopGoroutine{ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (g *loopGoroutine) begin(loop func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.ctx.Err() != nil {
		return
	}
	g.started = true
	go func() {
		defer close(g.done)
		loop()
	}()
}

func (g *loopGoroutine) stop() {
	g.mu.Lock()
	started := g.started
	g.cancel()
	g.mu.Unlock()
	if started {
		<-g.done
	}
}

func (r *intervalRunner) start() { r.begin(r.loop) }

func (r *intervalRunner) loop() {
	wait := randomStagger(r.interval)
	for {
		fire, timer := clock.After(r.clk, wait)
		select {
		case <-fire:
		case <-r.ctx.Done():
			timer.Stop()
			return
		}
		status, output := r.probe(r.ctx)
		if r.ctx.Err() != nil {
			return
		}
		r.handler.update(status, output)
		wait = r.interval
	}
}

// ttlRunner is a TTL check: its status is set from outside (SetStatus),
// and it turns critical with "TTL expired" when not set within the TTL.
type ttlRunner struct {
	checkID   string
	clk       clock.Clock
	ttl       time.Duration
	maxOutput int
	notify    Notifier
	logger    *slog.Logger

	mu         sync.Mutex
	timer      clock.Timer
	lastOutput string
	started    bool
	stopped    bool
}

func newTTLRunner(checkID string, spec *CheckSpec, clk clock.Clock, notify Notifier, logger *slog.Logger) *ttlRunner {
	return &ttlRunner{checkID: checkID, clk: clk, ttl: spec.TTL, maxOutput: spec.OutputMaxSize, notify: notify, logger: logger}
}

func (r *ttlRunner) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	r.resetLocked()
}

func (r *ttlRunner) resetLocked() {
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timer = r.clk.AfterFunc(r.ttl, r.expire)
}

func (r *ttlRunner) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.timer = nil
	r.logger.Warn("check missed TTL, is now critical", "check", r.checkID)
	output := "TTL expired"
	if r.lastOutput != "" {
		output = fmt.Sprintf("TTL expired (last output before timeout follows): %s", r.lastOutput)
	}
	r.notify.UpdateCheck(r.checkID, StatusCritical, output)
}

// setStatus reports status and output (truncated to the output limit, which
// it returns) and restarts the TTL.
func (r *ttlRunner) setStatus(status, output string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	output = truncateOutput(output, r.maxOutput)
	if r.stopped {
		return output
	}
	r.notify.UpdateCheck(r.checkID, status, output)
	r.lastOutput = output
	if r.started {
		r.resetLocked()
	}
	return output
}

func (r *ttlRunner) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/bubble"
)

// logRecord is what a test reads back of one log line.
type logRecord struct {
	level slog.Level
	msg   string
	step  string
}

// recordingHandler keeps the records logged through it.
type recordingHandler struct {
	mu      sync.Mutex
	records []logRecord
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "step" {
			rec.step = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, rec)
	return nil
}

// warnings are the steps named by warnings whose message is msg.
func (h *recordingHandler) warnings(msg string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var steps []string
	for _, r := range h.records {
		if r.level == slog.LevelWarn && r.msg == msg {
			steps = append(steps, r.step)
		}
	}
	return steps
}

const (
	msgStillWaiting = "shutdown: still waiting; giving up on this step"
	msgSkipped      = "shutdown: no time left; skipping"
)

// stepLog records which steps ran, in order.
type stepLog struct {
	mu  sync.Mutex
	ran []string
}

func (l *stepLog) quick(name string, budget time.Duration, err error) shutdownStep {
	return shutdownStep{name, budget, func(context.Context) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.ran = append(l.ran, name)
		return err
	}}
}

// stuck is a step that does not return until release closes, as a step
// waiting on a peer that is gone; it records when its context ended.
func (l *stepLog) stuck(name string, budget time.Duration, release <-chan struct{}, ctxEnded chan<- time.Time) shutdownStep {
	return shutdownStep{name, budget, func(ctx context.Context) error {
		l.mu.Lock()
		l.ran = append(l.ran, name)
		l.mu.Unlock()
		if ctxEnded != nil {
			go func() {
				<-ctx.Done()
				ctxEnded <- time.Now()
			}()
		}
		<-release
		return nil
	}}
}

func (l *stepLog) steps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ran)
}

func TestShutdownGivesUpOnAStepOverItsBudget(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := &recordingHandler{}
		var l stepLog
		release := make(chan struct{})
		defer close(release)
		ctxEnded := make(chan time.Time, 1)
		began := time.Now()
		err := runShutdownSteps(slog.New(h), began.Add(ShutdownBudget), []shutdownStep{
			l.quick("http", time.Second, nil),
			l.stuck("raft", 1500*time.Millisecond, release, ctxEnded),
			l.quick("lan", time.Second, nil),
		})
		if took := time.Since(began); took != 1500*time.Millisecond {
			t.Errorf("shutdown took %s, want the stuck step's budget, 1.5s", took)
		}
		if !errors.Is(err, ErrShutdownIncomplete) {
			t.Errorf("error %v, want ErrShutdownIncomplete", err)
		}
		if got := l.steps(); !slices.Equal(got, []string{"http", "raft", "lan"}) {
			t.Errorf("steps ran %v, want http, raft, lan: the one after the stuck step runs too", got)
		}
		if got := h.warnings(msgStillWaiting); !slices.Equal(got, []string{"raft"}) {
			t.Errorf("still-waiting warnings name %v, want [raft]", got)
		}
		if at := <-ctxEnded; at.Sub(began) != 1500*time.Millisecond {
			t.Errorf("the stuck step's context ended after %s, want 1.5s (when it was given up on)", at.Sub(began))
		}
	})
}

func TestShutdownStaysWithinItsDeadline(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := &recordingHandler{}
		var l stepLog
		release := make(chan struct{})
		defer close(release)
		began := time.Now()
		err := runShutdownSteps(slog.New(h), began.Add(ShutdownBudget), []shutdownStep{
			l.stuck("leave", 2*time.Second, release, nil),
			l.stuck("local", 2*time.Second, release, nil),
			l.stuck("raft", 2*time.Second, release, nil),
			l.quick("lan", time.Second, nil),
		})
		if took := time.Since(began); took != ShutdownBudget {
			t.Errorf("shutdown took %s, want exactly the deadline, %s", took, ShutdownBudget)
		}
		if !errors.Is(err, ErrShutdownIncomplete) {
			t.Errorf("error %v, want ErrShutdownIncomplete", err)
		}
		if got := h.warnings(msgStillWaiting); !slices.Equal(got, []string{"leave", "local", "raft"}) {
			t.Errorf("still-waiting warnings name %v, want leave, local, raft", got)
		}
		if got := h.warnings(msgSkipped); !slices.Equal(got, []string{"lan"}) {
			t.Errorf("skipped steps %v, want [lan]", got)
		}
		if got := l.steps(); slices.Contains(got, "lan") {
			t.Errorf("steps ran %v: lan ran after the deadline", got)
		}
	})
}

func TestShutdownReportsStepErrorsAndGoesOn(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := &recordingHandler{}
		var l stepLog
		boom := errors.New("boom")
		began := time.Now()
		err := runShutdownSteps(slog.New(h), began.Add(ShutdownBudget), []shutdownStep{
			l.quick("local", time.Second, boom),
			l.quick("raft", time.Second, nil),
		})
		if time.Since(began) != 0 {
			t.Errorf("quick steps took %s of the fake clock", time.Since(began))
		}
		if !errors.Is(err, boom) || errors.Is(err, ErrShutdownIncomplete) {
			t.Errorf("error %v, want boom and not ErrShutdownIncomplete", err)
		}
		if got := l.steps(); !slices.Equal(got, []string{"local", "raft"}) {
			t.Errorf("steps ran %v, want local, raft", got)
		}
		if got := h.warnings(msgStillWaiting); len(got) != 0 {
			t.Errorf("still-waiting warnings %v for steps that returned", got)
		}
	})
}

// TestShutdownStepsFitTheBudget checks the agent's own steps: every one
// has a budget, and all but the leave fit in ShutdownBudget together, so
// only a leave that runs long can squeeze the steps after it.
func TestShutdownStepsFitTheBudget(t *testing.T) {
	a, err := New(config.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var total time.Duration
	var names []string
	for _, st := range a.shutdownSteps(false) {
		if st.budget <= 0 {
			t.Errorf("step %s has no budget", st.name)
		}
		total += st.budget
		names = append(names, st.name)
	}
	if total > ShutdownBudget {
		t.Errorf("budgets of %v add up to %s, more than ShutdownBudget %s", names, total, ShutdownBudget)
	}
	if raft, rpc := slices.Index(names, "raft"), slices.Index(names, "rpc"); raft < 0 || rpc < raft {
		t.Errorf("steps %v: raft must stop before the RPC listener that carries its transport closes", names)
	}
	if leave := a.shutdownSteps(true); leave[0].name != "leave" {
		t.Errorf("first step with leave is %s, want leave", leave[0].name)
	}
	if ShutdownBudget >= 5*time.Second {
		t.Errorf("ShutdownBudget %s leaves no margin under 5 s", ShutdownBudget)
	}
}

// TestShutdownOfAnAgentNeverStarted checks that stopping an agent whose
// Start never ran (a signal before it began) returns at once, cleanly,
// and only once.
func TestShutdownOfAnAgentNeverStarted(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		a, err := New(config.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if err := a.Stop(began.Add(ShutdownBudget), true); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if err := a.Shutdown(); err != nil {
			t.Fatalf("second shutdown: %v", err)
		}
		if took := time.Since(began); took != 0 {
			t.Errorf("stopping an agent that never started took %s", took)
		}
	})
}

package logging

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// monitored returns an info-level logger writing to nowhere, with mons
// attached as the agent attaches them.
func monitored(t *testing.T) (*slog.Logger, *Monitors) {
	t.Helper()
	base, err := New("info", false, discardWriter{})
	if err != nil {
		t.Fatal(err)
	}
	mons := NewMonitors()
	return slog.New(Fanout(base.Handler(), mons.Handler())), mons
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func nextLine(t *testing.T, m *Monitor) string {
	t.Helper()
	select {
	case l := <-m.Lines():
		return string(l)
	case <-time.After(5 * time.Second):
		t.Fatal("no line within 5s")
		return ""
	}
}

func TestMonitorLevelAndBelow(t *testing.T) {
	l, mons := monitored(t)
	if l.Handler().Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("debug enabled with no monitor attached on an info logger")
	}
	m := mons.Attach(slog.LevelDebug, false, 0)
	defer m.Close()
	if !l.Handler().Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("debug not enabled while a debug monitor is attached")
	}
	l.Log(t.Context(), LevelTrace, "trace line")
	l.With("node", "n1").WithGroup("g").Debug("debug line", "k", "v")
	got := nextLine(t, m)
	if !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, `msg="debug line"`) || !strings.Contains(got, "node=n1") || !strings.Contains(got, "g.k=v") {
		t.Fatalf("line = %q", got)
	}
	select {
	case extra := <-m.Lines():
		t.Fatalf("unexpected line %q (the trace line is below the monitor's level)", extra)
	default:
	}
	m.Close()
	if l.Handler().Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("debug still enabled after the monitor closed")
	}
}

func TestMonitorTraceLabel(t *testing.T) {
	l, mons := monitored(t)
	m := mons.Attach(LevelTrace, false, 0)
	defer m.Close()
	l.Log(t.Context(), LevelTrace, "deep")
	if got := nextLine(t, m); !strings.Contains(got, "level=TRACE") {
		t.Fatalf("line = %q", got)
	}
}

func TestMonitorJSON(t *testing.T) {
	l, mons := monitored(t)
	m := mons.Attach(slog.LevelInfo, true, 0)
	defer m.Close()
	text := mons.Attach(slog.LevelInfo, false, 0)
	defer text.Close()
	l.Info("hello", "n", 3)
	var rec map[string]any
	if err := json.Unmarshal([]byte(nextLine(t, m)), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "hello" || rec["level"] != "INFO" || rec["n"] != float64(3) {
		t.Fatalf("record = %v", rec)
	}
	if got := nextLine(t, text); !strings.HasPrefix(got, "time=") {
		t.Fatalf("text monitor line = %q", got)
	}
}

// A monitor that never reads must not hold up logging: its lines are
// dropped and counted.
func TestMonitorSlowReaderDoesNotBlock(t *testing.T) {
	l, mons := monitored(t)
	m := mons.Attach(slog.LevelInfo, false, 4)
	defer m.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			l.Info("line", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked behind a monitor that does not read")
	}
	if d := m.Dropped(); d != 10000-4 {
		t.Fatalf("dropped = %d, want %d", d, 10000-4)
	}
	if d := m.Dropped(); d != 0 {
		t.Fatalf("dropped after reset = %d", d)
	}
	if got := nextLine(t, m); !strings.Contains(got, "i=0") {
		t.Fatalf("first buffered line = %q", got)
	}
}

package logging

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
)

// DefaultMonitorBuffer is how many lines a monitor holds for a reader that
// has fallen behind before it drops the newest ones.
const DefaultMonitorBuffer = 512

// Monitors is a slog.Handler that copies records to the monitors attached
// to it (/v1/agent/monitor), each at its own level and format. It never
// blocks the caller: a monitor whose buffer is full drops the line and
// counts it. Attach it to a logger with Fanout; it is enabled at a level
// only while a monitor wants that level, so it costs nothing when no one
// is watching. The zero value is not usable; call NewMonitors.
type Monitors struct {
	mu   sync.Mutex
	subs map[*Monitor]struct{}
	// min is the lowest level any monitor wants, or math.MaxInt64 with
	// none attached.
	min atomic.Int64
}

// NewMonitors returns a Monitors with no monitor attached.
func NewMonitors() *Monitors {
	m := &Monitors{subs: map[*Monitor]struct{}{}}
	m.min.Store(math.MaxInt64)
	return m
}

// Monitor is one reader of the log stream. Lines arrive on Lines, each a
// formatted record ending in a newline.
type Monitor struct {
	owner   *Monitors
	level   slog.Level
	json    bool
	lines   chan []byte
	dropped atomic.Uint64
	once    sync.Once
}

// Attach adds a monitor that receives the records at level and above, as
// text lines or (json) JSON objects, with room for buffer lines (at least
// 1; DefaultMonitorBuffer when buffer <= 0). The caller must Close it.
func (m *Monitors) Attach(level slog.Level, json bool, buffer int) *Monitor {
	if buffer <= 0 {
		buffer = DefaultMonitorBuffer
	}
	mon := &Monitor{owner: m, level: level, json: json, lines: make(chan []byte, buffer)}
	m.mu.Lock()
	m.subs[mon] = struct{}{}
	m.resetMinLocked()
	m.mu.Unlock()
	return mon
}

func (m *Monitors) resetMinLocked() {
	lowest := int64(math.MaxInt64)
	for s := range m.subs {
		lowest = min(lowest, int64(s.level))
	}
	m.min.Store(lowest)
}

// Lines returns the channel the monitor's lines arrive on; it is never
// closed (stop reading when your own context ends).
func (mon *Monitor) Lines() <-chan []byte { return mon.lines }

// Dropped returns the number of lines dropped since the last call because
// the reader was behind, and resets it.
func (mon *Monitor) Dropped() uint64 { return mon.dropped.Swap(0) }

// Close detaches the monitor; no line is sent to it afterwards.
func (mon *Monitor) Close() {
	mon.once.Do(func() {
		m := mon.owner
		m.mu.Lock()
		delete(m.subs, mon)
		m.resetMinLocked()
		m.mu.Unlock()
	})
}

// Handler returns the slog.Handler that feeds m's monitors.
func (m *Monitors) Handler() slog.Handler { return &monitorHandler{m: m} }

// monitorHandler feeds the monitors. ops are the WithAttrs/WithGroup
// calls that derived it, replayed on each monitor's formatter, since
// monitors come and go after the handler was derived.
type monitorHandler struct {
	m   *Monitors
	ops []func(slog.Handler) slog.Handler
}

func (h *monitorHandler) Enabled(_ context.Context, l slog.Level) bool {
	return int64(l) >= h.m.min.Load()
}

func (h *monitorHandler) Handle(ctx context.Context, r slog.Record) error {
	h.m.mu.Lock()
	subs := make([]*Monitor, 0, len(h.m.subs))
	for s := range h.m.subs {
		if r.Level >= s.level {
			subs = append(subs, s)
		}
	}
	h.m.mu.Unlock()
	// One formatting per format, shared by the monitors that use it.
	var text, js []byte
	for _, s := range subs {
		line := &text
		if s.json {
			line = &js
		}
		if *line == nil {
			b, err := h.format(ctx, r, s.json)
			if err != nil {
				return err
			}
			*line = b
		}
		select {
		case s.lines <- *line:
		default:
			s.dropped.Add(1)
		}
	}
	return nil
}

// format renders r as one line, as the agent's own text or JSON handler
// would (LevelTrace as "TRACE"), with every level let through.
func (h *monitorHandler) format(ctx context.Context, r slog.Record, json bool) ([]byte, error) {
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.Level(math.MinInt), ReplaceAttr: replaceLevel}
	var f slog.Handler
	if json {
		f = slog.NewJSONHandler(&buf, opts)
	} else {
		f = slog.NewTextHandler(&buf, opts)
	}
	for _, op := range h.ops {
		f = op(f)
	}
	if err := f.Handle(ctx, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (h *monitorHandler) with(op func(slog.Handler) slog.Handler) *monitorHandler {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &monitorHandler{m: h.m, ops: append(ops, op)}
}

func (h *monitorHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(func(f slog.Handler) slog.Handler { return f.WithAttrs(attrs) })
}

func (h *monitorHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(f slog.Handler) slog.Handler { return f.WithGroup(name) })
}

package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// capture is a JSON slog logger whose records can be read back.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// records decodes every JSON line written so far.
func (c *capture) records(t *testing.T) []map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(c.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// only returns the single record written so far.
func (c *capture) only(t *testing.T) map[string]any {
	t.Helper()
	recs := c.records(t)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1: %v", len(recs), recs)
	}
	return recs[0]
}

func newCapture(t *testing.T, level string) (*slog.Logger, *capture) {
	t.Helper()
	c := &capture{}
	l, err := New(level, true, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, c
}

func TestParseLevel(t *testing.T) {
	cases := []struct {
		in   string
		want slog.Level
		err  bool
	}{
		{"trace", LevelTrace, false},
		{"debug", slog.LevelDebug, false},
		{"info", slog.LevelInfo, false},
		{" INFO ", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"", 0, true},
		{"verbose", 0, true},
		{"warning", 0, true},
	}
	for _, tc := range cases {
		got, err := ParseLevel(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadLevel) {
				t.Errorf("ParseLevel(%q) err = %v, want ErrBadLevel", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := New("loud", false, &bytes.Buffer{}); !errors.Is(err, ErrBadLevel) {
		t.Fatalf("New(bad level) err = %v, want ErrBadLevel", err)
	}

	l, c := newCapture(t, "trace")
	l.Log(t.Context(), LevelTrace, "deep")
	if got := c.only(t)["level"]; got != "TRACE" {
		t.Errorf("trace record level = %v, want TRACE", got)
	}

	l, c = newCapture(t, "warn")
	l.Info("dropped")
	l.Warn("kept", "k", 1)
	rec := c.only(t)
	if rec["msg"] != "kept" || rec["level"] != "WARN" || rec["k"] != float64(1) {
		t.Errorf("record = %v", rec)
	}

	var text bytes.Buffer
	l, err := New("info", false, &text)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hello", "node", "n1")
	if got := text.String(); !strings.Contains(got, "level=INFO msg=hello node=n1") {
		t.Errorf("text output = %q", got)
	}
}

func TestStdLoggerParsesLines(t *testing.T) {
	cases := []struct {
		line      string
		level     string
		msg       string
		subsystem string
	}{
		{"2024/01/01 00:00:00 [DEBUG] memberlist: Stream connection from=127.0.0.1:4000", "DEBUG", "Stream connection from=127.0.0.1:4000", "memberlist"},
		{"2024/01/01 00:00:00.123456 [TRACE] raft: tick", "TRACE", "tick", "raft"},
		{"2024-01-01T00:00:00.000Z [INFO] serf: EventMemberJoin: n1 127.0.0.1", "INFO", "EventMemberJoin: n1 127.0.0.1", "serf"},
		{"[WARN] serf: Shutdown without a Leave", "WARN", "Shutdown without a Leave", "serf"},
		{"[WARNING] careful", "WARN", "careful", ""},
		{"[ERR] memberlist: Failed fallback ping: EOF", "ERROR", "Failed fallback ping: EOF", "memberlist"},
		{"[ERROR] broken\n", "ERROR", "broken", ""},
		{"no marker at all", "INFO", "no marker at all", ""},
		{"[CUSTOM] kept verbatim", "INFO", "[CUSTOM] kept verbatim", ""},
		{"Upper: not a subsystem", "INFO", "Upper: not a subsystem", ""},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			l, c := newCapture(t, "trace")
			std := StdLogger(l)
			if _, err := std.Writer().Write([]byte(tc.line)); err != nil {
				t.Fatal(err)
			}
			rec := c.only(t)
			if rec["level"] != tc.level || rec["msg"] != tc.msg {
				t.Errorf("got level=%v msg=%q, want %s %q", rec["level"], rec["msg"], tc.level, tc.msg)
			}
			got, _ := rec[KeyLogger].(string)
			if got != tc.subsystem {
				t.Errorf("logger attr = %q, want %q", got, tc.subsystem)
			}
		})
	}
}

func TestStdLoggerThroughLogPackage(t *testing.T) {
	l, c := newCapture(t, "info")
	// memberlist and serf wrap their output this way when given a writer.
	std := log.New(StdLogger(l).Writer(), "", log.LstdFlags|log.Lmicroseconds)
	std.Printf("[DEBUG] memberlist: filtered out")
	std.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "n2")
	rec := c.only(t)
	if rec["level"] != "WARN" || rec["msg"] != "Refuting a suspect message (from: n2)" || rec[KeyLogger] != "memberlist" {
		t.Errorf("record = %v", rec)
	}
}

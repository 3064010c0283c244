package logging

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogLevels(t *testing.T) {
	cases := []struct {
		name string
		log  func(hclog.Logger)
		want string
	}{
		{"Trace", func(l hclog.Logger) { l.Trace("m") }, "TRACE"},
		{"Debug", func(l hclog.Logger) { l.Debug("m") }, "DEBUG"},
		{"Info", func(l hclog.Logger) { l.Info("m") }, "INFO"},
		{"Warn", func(l hclog.Logger) { l.Warn("m") }, "WARN"},
		{"Error", func(l hclog.Logger) { l.Error("m") }, "ERROR"},
		{"Log(Debug)", func(l hclog.Logger) { l.Log(hclog.Debug, "m") }, "DEBUG"},
		{"Log(NoLevel)", func(l hclog.Logger) { l.Log(hclog.NoLevel, "m") }, "INFO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sl, c := newCapture(t, "trace")
			tc.log(HCLog(sl, "raft"))
			rec := c.only(t)
			if rec["level"] != tc.want || rec["msg"] != "m" || rec[KeyLogger] != "raft" {
				t.Errorf("record = %v, want level %s", rec, tc.want)
			}
		})
	}

	sl, c := newCapture(t, "trace")
	HCLog(sl, "").Log(hclog.Off, "never")
	if n := len(c.records(t)); n != 0 {
		t.Errorf("Log(Off) wrote %d records", n)
	}
}

func TestHCLogIsAndSetLevel(t *testing.T) {
	sl, c := newCapture(t, "info")
	l := HCLog(sl, "x")
	if l.IsTrace() || l.IsDebug() || !l.IsInfo() || !l.IsWarn() || !l.IsError() {
		t.Errorf("Is* at info: trace=%v debug=%v info=%v warn=%v error=%v",
			l.IsTrace(), l.IsDebug(), l.IsInfo(), l.IsWarn(), l.IsError())
	}
	if got := l.GetLevel(); got != hclog.Info {
		t.Errorf("GetLevel = %v, want info (from the handler)", got)
	}

	child := l.Named("child")
	l.SetLevel(hclog.Error)
	if got := child.GetLevel(); got != hclog.Error {
		t.Errorf("child GetLevel = %v, want error (shared with parent)", got)
	}
	child.Warn("dropped")
	child.Error("kept")
	if rec := c.only(t); rec["msg"] != "kept" {
		t.Errorf("record = %v", rec)
	}

	// SetLevel below the handler's level does not enable debug output.
	l.SetLevel(hclog.Trace)
	if l.IsDebug() {
		t.Error("IsDebug true although the slog handler is at info")
	}
	l.SetLevel(hclog.NoLevel)
	if got := l.GetLevel(); got != hclog.Info {
		t.Errorf("GetLevel after NoLevel = %v, want info", got)
	}
}

func TestHCLogNames(t *testing.T) {
	sl, _ := newCapture(t, "info")
	l := HCLog(sl, "agent")
	cases := []struct {
		got, want string
	}{
		{l.Name(), "agent"},
		{l.Named("raft").Name(), "agent.raft"},
		{l.Named("raft").Named("snap").Name(), "agent.raft.snap"},
		{l.Named("raft").ResetNamed("yamux").Name(), "yamux"},
		{HCLog(sl, "").Named("raft").Name(), "raft"},
		{l.Named("").Name(), "agent"},
	}
	for i, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("case %d: name %q, want %q", i, tc.got, tc.want)
		}
	}
}

func TestHCLogArgs(t *testing.T) {
	sl, c := newCapture(t, "info")
	l := HCLog(sl, "").With("node", "n1", "dc", "dc1").With("node", "n2")
	implied := l.ImpliedArgs()
	if len(implied) != 4 || implied[0] != "node" || implied[1] != "n2" || implied[2] != "dc" {
		t.Errorf("ImpliedArgs = %v", implied)
	}
	l.Info("msg",
		"fmt", hclog.Fmt("%d beans", 3),
		"hex", hclog.Hex(255),
		"oct", hclog.Octal(8),
		"bin", hclog.Binary(5),
		"quote", hclog.Quote("a\nb"),
		"dangling")
	rec := c.only(t)
	want := map[string]any{
		"node": "n2", "dc": "dc1", "fmt": "3 beans", "hex": "0xff", "oct": "010",
		"bin": "0b101", "quote": `"a\nb"`, "EXTRA_VALUE_AT_END": "dangling",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("attr %s = %v, want %v", k, rec[k], v)
		}
	}
}

func TestHCLogStandardWriter(t *testing.T) {
	cases := []struct {
		name  string
		opts  *hclog.StandardLoggerOptions
		line  string
		level string
		msg   string
	}{
		{"plain", nil, "[DEBUG] stays", "INFO", "[DEBUG] stays"},
		{"infer", &hclog.StandardLoggerOptions{InferLevels: true}, "[WARN] yamux: slow", "WARN", "yamux: slow"},
		{"infer with timestamp", &hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true},
			"2024/01/01 00:00:00 [ERR] boom", "ERROR", "boom"},
		{"force", &hclog.StandardLoggerOptions{ForceLevel: hclog.Error}, "[INFO] forced", "ERROR", "forced"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sl, c := newCapture(t, "trace")
			std := HCLog(sl, "lib").StandardLogger(tc.opts)
			std.Print(tc.line)
			rec := c.only(t)
			if rec["level"] != tc.level || rec["msg"] != tc.msg || rec[KeyLogger] != "lib" {
				t.Errorf("record = %v, want %s %q", rec, tc.level, tc.msg)
			}
		})
	}
}

func TestHCLogSourceIsCaller(t *testing.T) {
	c := &capture{}
	sl := slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{AddSource: true}))
	HCLog(sl, "").Info("where")
	src, _ := c.only(t)["source"].(map[string]any)
	if file, _ := src["file"].(string); !strings.HasSuffix(file, "hclog_test.go") {
		t.Errorf("source = %v, want this test file", src)
	}
}

package health

import (
	"log/slog"
	"strings"
	"testing"
)

func TestStatusHandlerThresholds(t *testing.T) {
	const p, w, c = StatusPassing, StatusWarning, StatusCritical
	cases := []struct {
		name                    string
		success, warn, critical int
		in                      []string
		want                    []string // reported status per input, "" = nothing reported
	}{
		{"no thresholds", 0, 0, 0, []string{p, c, w, c}, []string{p, c, w, c}},
		{"first result applies at once", 3, 3, 3, []string{c, p, p, p}, []string{c, "", "", p}},
		{"success threshold", 2, 0, 0, []string{p, p, c, p, p}, []string{p, p, c, "", p}},
		{"failures before critical", 0, 2, 2, []string{p, c, c, c}, []string{p, "", c, c}},
		{"warning before critical", 0, 1, 3, []string{p, c, c, c, p}, []string{p, w, w, c, p}},
		{"success resets failures", 0, 2, 2, []string{p, c, p, c, c}, []string{p, "", p, "", c}},
		{"warning counts as success", 2, 0, 0, []string{c, w, w}, []string{c, "", w}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			spec := &CheckSpec{CheckDefinition: CheckDefinition{
				SuccessBeforePassing: tc.success, FailuresBeforeWarning: tc.warn, FailuresBeforeCritical: tc.critical,
			}}
			h := newStatusHandler("chk", rec, slog.New(slog.DiscardHandler), spec)
			for i, status := range tc.in {
				before := rec.count()
				h.update(status, "out")
				got := ""
				if rec.count() > before {
					got = rec.got[len(rec.got)-1].status
				}
				if got != tc.want[i] {
					t.Fatalf("result %d (%s): reported %q, want %q", i, status, got, tc.want[i])
				}
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(8)
	for _, s := range []string{"abc", "defg", "hij"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != "cdefghij" || b.total != 10 || !b.truncated() {
		t.Fatalf("buffer %q total %d", b.String(), b.total)
	}
	_, _ = b.Write([]byte(strings.Repeat("z", 20)))
	if b.String() != "zzzzzzzz" || b.total != 30 {
		t.Fatalf("buffer %q total %d", b.String(), b.total)
	}
	small := newTailBuffer(8)
	_, _ = small.Write([]byte("ok"))
	if small.truncated() || small.String() != "ok" {
		t.Fatalf("small %q", small.String())
	}
}

func TestTruncateOutput(t *testing.T) {
	if got := truncateOutput("short", 10); got != "short" {
		t.Fatalf("got %q", got)
	}
	if got := truncateOutput("0123456789abc", 10); got != "0123456789 ... (captured 10 of 13 bytes)" {
		t.Fatalf("got %q", got)
	}
}

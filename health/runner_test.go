package health

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
)

var discard = slog.New(slog.DiscardHandler)

func TestIntervalRunnerSchedule(t *testing.T) {
	clk := clock.NewFake(testStart)
	rec := newRecorder()
	var runs atomic.Int32
	var runAt []time.Duration
	probe := func(ctx context.Context) (string, string) {
		n := runs.Add(1)
		runAt = append(runAt, clk.Now().Sub(testStart))
		if n%2 == 0 {
			return StatusCritical, "down"
		}
		return StatusPassing, "up"
	}
	spec := &CheckSpec{CheckDefinition: CheckDefinition{Interval: 10 * time.Second}}
	r := newIntervalRunner("chk", spec, clk, rec, discard, probe)
	r.start()
	defer r.stop()
	ctx := testCtx(t)

	// The first run comes within one interval (random stagger).
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	first, _ := clk.NextDeadline()
	if d := first.Sub(testStart); d < 0 || d >= 10*time.Second {
		t.Fatalf("first run scheduled at +%v", d)
	}
	clk.Advance(first.Sub(clk.Now()))
	if res := rec.next(t); res.status != StatusPassing || res.output != "up" || res.id != "chk" {
		t.Fatalf("first result %+v", res)
	}
	// Then every interval after the previous run.
	for i := 0; i < 3; i++ {
		if err := clk.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10*time.Second - time.Nanosecond)
		if rec.count() != i+1 {
			t.Fatalf("ran before its interval")
		}
		clk.Advance(time.Nanosecond)
		rec.next(t)
	}
	for i := 1; i < len(runAt); i++ {
		if d := runAt[i] - runAt[i-1]; d != 10*time.Second {
			t.Fatalf("runs %v apart", d)
		}
	}
	r.stop()
	if clk.Pending() != 0 {
		t.Fatal("timer left after stop")
	}
}

func TestIntervalRunnerStopsMidCheck(t *testing.T) {
	clk := clock.NewFake(testStart)
	rec := newRecorder()
	inProbe := make(chan struct{})
	probe := func(ctx context.Context) (string, string) {
		close(inProbe)
		<-ctx.Done()
		return StatusCritical, "cancelled"
	}
	r := newIntervalRunner("chk", &CheckSpec{CheckDefinition: CheckDefinition{Interval: time.Second}}, clk, rec, discard, probe)
	r.start()
	fireNext(t, clk)
	<-inProbe
	r.stop()
	if rec.count() != 0 {
		t.Fatalf("a stopped runner reported %v", rec.got)
	}
}

func TestIntervalRunnerThresholds(t *testing.T) {
	clk := clock.NewFake(testStart)
	rec := newRecorder()
	results := []string{StatusPassing, StatusCritical, StatusCritical, StatusCritical}
	var i atomic.Int32
	probe := func(context.Context) (string, string) {
		return results[int(i.Add(1))-1], "x"
	}
	spec := &CheckSpec{CheckDefinition: CheckDefinition{Interval: time.Second, FailuresBeforeWarning: 1, FailuresBeforeCritical: 2}}
	r := newIntervalRunner("chk", spec, clk, rec, discard, probe)
	r.start()
	defer r.stop()
	var got []string
	for range results {
		fireNext(t, clk)
		got = append(got, rec.next(t).status)
	}
	want := []string{StatusPassing, StatusWarning, StatusCritical, StatusCritical}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("reported %v, want %v", got, want)
	}
}

func TestTTLRunner(t *testing.T) {
	clk := clock.NewFake(testStart)
	rec := newRecorder()
	m := NewCheckManager(clk, rec, discard)
	defer m.Stop()
	spec := &CheckSpec{CheckDefinition: CheckDefinition{TTL: 30 * time.Second}, Type: TypeTTL, OutputMaxSize: 16}
	if err := m.Add("ttl", spec); err != nil {
		t.Fatal(err)
	}
	if !m.IsTTL("ttl") {
		t.Fatal("not a TTL check")
	}
	m.Start()

	clk.Advance(30 * time.Second)
	if res := rec.next(t); res.status != StatusCritical || res.output != "TTL expired" {
		t.Fatalf("expiry %+v", res)
	}
	out, err := m.SetTTLStatus("ttl", StatusPassing, "all fine")
	if err != nil || out != "all fine" {
		t.Fatalf("SetTTLStatus = %q, %v", out, err)
	}
	if res := rec.next(t); res.status != StatusPassing || res.output != "all fine" {
		t.Fatalf("pass %+v", res)
	}
	// The TTL restarts at each update.
	clk.Advance(20 * time.Second)
	if _, err := m.SetTTLStatus("ttl", StatusWarning, "slow"); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	clk.Advance(30*time.Second - time.Nanosecond)
	if rec.count() != 3 {
		t.Fatalf("expired early: %v", rec.got)
	}
	clk.Advance(time.Nanosecond)
	if res := rec.next(t); res.output != "TTL expired (last output before timeout follows): slow" {
		t.Fatalf("expiry %+v", res)
	}

	out, _ = m.SetTTLStatus("ttl", StatusPassing, strings.Repeat("x", 20))
	if out != strings.Repeat("x", 16)+" ... (captured 16 of 20 bytes)" {
		t.Fatalf("truncated output %q", out)
	}
	if _, err := m.SetTTLStatus("ttl", "bogus", ""); !errors.Is(err, ErrInvalidStatus) {
		t.Fatalf("bad status: %v", err)
	}
	if _, err := m.SetTTLStatus("nope", StatusPassing, ""); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("unknown: %v", err)
	}
	m.Remove("ttl")
	if clk.Pending() != 0 {
		t.Fatal("TTL timer left after Remove")
	}
}

func TestCheckManagerReplaceAndRemove(t *testing.T) {
	clk := clock.NewFake(testStart)
	rec := newRecorder()
	m := NewCheckManager(clk, rec, discard)
	defer m.Stop()
	ttl := &CheckSpec{CheckDefinition: CheckDefinition{TTL: time.Minute}, Type: TypeTTL, OutputMaxSize: 64}
	if err := m.Add("c", ttl); err != nil {
		t.Fatal(err)
	}
	m.Start()
	if clk.Pending() != 1 {
		t.Fatalf("pending %d", clk.Pending())
	}
	// Replacing it with a script check stops the TTL timer.
	script := scriptSpec("exit 0", time.Minute)
	if err := m.Add("c", script); err != nil {
		t.Fatal(err)
	}
	if m.IsTTL("c") {
		t.Fatal("still a TTL check")
	}
	if _, err := m.SetTTLStatus("c", StatusPassing, ""); !errors.Is(err, ErrNotTTLCheck) {
		t.Fatalf("SetTTLStatus on a script check: %v", err)
	}
	fireNext(t, clk)
	if res := rec.next(t); res.status != StatusPassing || res.id != "c" {
		t.Fatalf("script result %+v", res)
	}
	if !m.Remove("c") || m.Remove("c") {
		t.Fatal("Remove results")
	}
	if err := m.Add("x", &CheckSpec{Type: "alias"}); !errors.Is(err, ErrInvalidCheck) {
		t.Fatalf("unsupported type: %v", err)
	}
}

// fireNext waits for a pending timer and moves the clock to the earliest
// deadline, firing it.
func fireNext(t *testing.T, clk *clock.Fake) {
	t.Helper()
	if err := clk.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	next, _ := clk.NextDeadline()
	clk.Advance(next.Sub(clk.Now()))
}

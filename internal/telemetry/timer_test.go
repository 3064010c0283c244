package telemetry

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A Timer's samples reach Prometheus, the JSON summary and statsd as
// go-metrics' would: the same names, labels and aggregates.
func TestTimerRecordsEverySample(t *testing.T) {
	l := newStatsdListener(t)
	reg := prometheus.NewRegistry()
	// A one-hour interval: the summary shows the current one, which the
	// samples below are in.
	s, err := New(Config{Prefix: "meridian", HostName: "node1", Registerer: reg, StatsdAddr: l.addr(), InmemInterval: time.Hour, InmemRetain: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(reg)
	timer := s.NewTimer([]string{"rpc", "server", "call"}, "method", "errored")
	base := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 250 {
				if g == 0 {
					timer.MeasureSince(base.Add(-2*time.Second), "KV.Apply", "true")
				} else {
					timer.MeasureSince(base.Add(-time.Second), "KV.Get", "false")
				}
			}
		}()
	}
	wg.Wait()
	timer.MeasureSince(base, "KV.Get") // the wrong number of values records nothing

	fams := gather(t, reg)
	f := fams["meridian_rpc_server_call"]
	if f == nil || len(f.GetMetric()) != 2 {
		t.Fatalf("summary family: %v", f)
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		count, sum := m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum()
		switch labels["method"] {
		case "KV.Apply":
			if labels["errored"] != "true" || count != 250 || sum < 250*2000 {
				t.Errorf("KV.Apply: labels %v, %d samples summing %v ms", labels, count, sum)
			}
		case "KV.Get":
			if labels["errored"] != "false" || count != 750 || sum < 750*1000 {
				t.Errorf("KV.Get: labels %v, %d samples summing %v ms", labels, count, sum)
			}
		default:
			t.Errorf("unexpected series %v", labels)
		}
		if len(m.GetSummary().GetQuantile()) != 3 {
			t.Errorf("quantiles: %v", m.GetSummary().GetQuantile())
		}
	}

	sum, err := s.Summary()
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for _, v := range sum.Samples {
		switch v.Hash {
		case "meridian.rpc.server.call;method=KV.Apply;errored=true":
			found++
			if v.Name != "meridian.rpc.server.call" || v.Count != 250 || v.Min < 2000 || v.Max < v.Min ||
				v.Mean < 2000 || v.DisplayLabels["method"] != "KV.Apply" || v.DisplayLabels["errored"] != "true" {
				t.Errorf("KV.Apply sample: %+v %+v", v, v.AggregateSample)
			}
		case "meridian.rpc.server.call;method=KV.Get;errored=false":
			found++
			if v.Count != 750 || v.Min < 1000 || v.Min > 2000 {
				t.Errorf("KV.Get sample: %+v %+v", v, v.AggregateSample)
			}
		}
	}
	if found != 2 {
		t.Fatalf("JSON summary samples: %+v", sum.Samples)
	}
	for i := 1; i < len(sum.Samples); i++ {
		if sum.Samples[i-1].Hash > sum.Samples[i].Hash {
			t.Fatalf("samples not sorted by hash: %q before %q", sum.Samples[i-1].Hash, sum.Samples[i].Hash)
		}
	}
	// statsd gets each sample, label values as key parts (as from go-metrics).
	buf := make([]byte, 65536)
	_ = l.pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for seen := false; !seen; {
		n, _, err := l.pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no statsd timing line: %v", err)
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			seen = seen || strings.HasPrefix(line, "meridian.rpc.server.call.KV.Apply.true:2") && strings.HasSuffix(line, "|ms")
		}
	}

	var nilSink *Sink
	nilSink.NewTimer([]string{"x"}, "y").MeasureSince(base, "z") // records nothing, without panicking
}

// A Timer's series leave Prometheus once not updated within the
// retention time, and with the Sink's Close.
func TestTimerRetention(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Prefix: "meridian", Retention: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	timer := s.NewTimer([]string{"rpc", "server", "call"}, "method", "errored")
	timer.MeasureSince(time.Now(), "KV.Get", "false")
	if gather(t, reg)["meridian_rpc_server_call"] == nil {
		t.Fatal("no summary right after a sample")
	}
	deadline := time.Now().Add(10 * time.Second)
	for gather(t, reg)["meridian_rpc_server_call"] != nil {
		if time.Now().After(deadline) {
			t.Fatal("series outlived its retention")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	timer.MeasureSince(time.Now(), "KV.Get", "false")
	if gather(t, reg)["meridian_rpc_server_call"] == nil {
		t.Fatal("a new sample did not bring the series back")
	}
	s.Close(reg)
	if fams := gather(t, reg); len(fams) != 0 {
		t.Fatalf("families after Close: %v", fams)
	}
	timer.MeasureSince(time.Now(), "KV.Get", "false") // after Close: nothing, no panic
}

package telemetry

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestTallyCountsEveryEvent(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Prefix: "meridian", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	tally := s.NewTally([]string{"rpc", "request"}, "method")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				if i%2 == 0 || g%2 == 0 {
					tally.Add("KV.Apply")
				} else {
					tally.Add("KV.Get")
				}
			}
		}()
	}
	wg.Wait()
	// Close hands over what the ticker has not yet: the totals are exact.
	s.Close(nil)
	want := map[string]float64{"KV.Apply": 6000, "KV.Get": 2000}
	fams := gather(t, reg)
	c := fams["meridian_rpc_request"]
	if c == nil || len(c.GetMetric()) != 2 {
		t.Fatalf("counter family: %v", c)
	}
	for _, m := range c.GetMetric() {
		method := m.GetLabel()[0].GetValue()
		if got := m.GetCounter().GetValue(); got != want[method] {
			t.Errorf("%s: %v, want %v", method, got, want[method])
		}
	}
	sum, err := s.Summary()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, c := range sum.Counters {
		total += c.Sum
	}
	if total != 8000 {
		t.Errorf("JSON summary counts %v events, want 8000", total)
	}
	var nilSink *Sink
	nilSink.NewTally([]string{"x"}, "y").Add("z") // a nil Sink's tally counts nothing, without panicking
}

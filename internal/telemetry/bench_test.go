package telemetry

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRequestMetrics is what a server records for one RPC endpoint
// call: its count and its timing, through go-metrics (as every other
// metric) and through the Tally and Timer a server uses for them.
func BenchmarkRequestMetrics(b *testing.B) {
	run := func(b *testing.B, record func(s *Sink) func(start time.Time)) {
		reg := prometheus.NewRegistry()
		s, err := New(Config{Prefix: "meridian", HostName: "node1", Registerer: reg})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close(reg)
		rec := record(s)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec(time.Now())
			}
		})
	}
	b.Run("go-metrics", func(b *testing.B) {
		run(b, func(s *Sink) func(time.Time) {
			method := Label{Name: "method", Value: "KV.Get"}
			return func(start time.Time) {
				s.IncrCounter([]string{"rpc", "request"}, 1, method)
				s.MeasureSince([]string{"rpc", "server", "call"}, start, method, Label{Name: "errored", Value: "false"})
			}
		})
	})
	b.Run("tally+timer", func(b *testing.B) {
		run(b, func(s *Sink) func(time.Time) {
			tally := s.NewTally([]string{"rpc", "request"}, "method")
			timer := s.NewTimer([]string{"rpc", "server", "call"}, "method", "errored")
			return func(start time.Time) {
				tally.Add("KV.Get")
				timer.MeasureSince(start, "KV.Get", "false")
			}
		})
	})
}

package telemetry

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRequestMetrics is what a server records for one RPC endpoint
// call: its count and its timing.
func BenchmarkRequestMetrics(b *testing.B) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Prefix: "meridian", HostName: "node1", Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(reg)
	method := Label{Name: "method", Value: "KV.Get"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			s.IncrCounter([]string{"rpc", "request"}, 1, method)
			s.MeasureSince([]string{"rpc", "server", "call"}, start, method, Label{Name: "errored", Value: "false"})
		}
	})
}

package rpc

import (
	"context"
	"testing"
)

// BenchmarkCall measures small calls over one pooled session from parallel
// callers and reports calls per second, with the pool's liveness watch on
// (the default) and off, to show what watching each call costs.
func BenchmarkCall(b *testing.B) {
	b.Run("watched", func(b *testing.B) { benchmarkCall(b, PoolConfig{}) })
	b.Run("unwatched", func(b *testing.B) { benchmarkCall(b, PoolConfig{PingAfter: -1}) })
}

func benchmarkCall(b *testing.B, cfg PoolConfig) {
	n := startNode(b, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, d := newTestPool(b, cfg)
	ctx := context.Background()
	if _, err := callEcho(ctx, p, n.addr, "warm"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got, err := callEcho(ctx, p, n.addr, "ping"); err != nil || got != "ping" {
				b.Errorf("call = %q, %v", got, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	if d.n.Load() != 1 {
		b.Errorf("%d dials, want 1", d.n.Load())
	}
}

package rpc

import (
	"context"
	"testing"

	"github.com/meridian-io/meridian/pb"
)

// BenchmarkCall measures small calls over one pooled session from parallel
// callers and reports calls per second, with the pool's liveness watch on
// (the default) and off, to show what watching each call costs.
// The batched case sends the same calls through CallBatched (256 callers
// per core, as a follower forwarding many clients' writes).
func BenchmarkCall(b *testing.B) {
	b.Run("watched", func(b *testing.B) { benchmarkCall(b, PoolConfig{}, false) })
	b.Run("unwatched", func(b *testing.B) { benchmarkCall(b, PoolConfig{PingAfter: -1}, false) })
	b.Run("batched", func(b *testing.B) { benchmarkCall(b, PoolConfig{}, true) })
	b.Run("serial", benchmarkSerialCall)
}

// benchmarkSerialCall is one caller's calls one after the other: the
// round trip a lone forwarded request pays (ns/op).
func benchmarkSerialCall(b *testing.B) {
	n := startNode(b, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, _ := newTestPool(b, PoolConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if got, err := callEcho(ctx, p, n.addr, "ping"); err != nil || got != "ping" {
			b.Fatalf("call = %q, %v", got, err)
		}
	}
}

func benchmarkCall(b *testing.B, cfg PoolConfig, batched bool) {
	n := startNode(b, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, d := newTestPool(b, cfg)
	ctx := context.Background()
	if _, err := callEcho(ctx, p, n.addr, "warm"); err != nil {
		b.Fatal(err)
	}
	call := callEcho
	if batched {
		b.SetParallelism(256)
		call = func(ctx context.Context, p *Pool, addr, text string) (string, error) {
			var resp pb.StatusLeaderResponse
			err := p.CallBatched(ctx, addr, "Status.Echo", &pb.StatusRequest{Dc: text}, &resp)
			return resp.GetAddress(), err
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(tpb *testing.PB) {
		for tpb.Next() {
			if got, err := call(ctx, p, n.addr, "ping"); err != nil || got != "ping" {
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

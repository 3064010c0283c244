package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
)

// What a handler notes of when its answer was read travels back to the
// caller's ReadAfter, through a plain call and a batched one; a handler
// that notes nothing leaves it at 0.
func TestReadAfterCrossesTheWire(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		Handle(s, "Test.ReadAfter", func(ctx context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
			if d, err := time.ParseDuration(req.GetDc()); err == nil {
				NoteReadAfter(ctx, d)
			}
			return &pb.StatusLeaderResponse{}, nil
		})
	})
	p, _ := newTestPool(t, PoolConfig{})
	for _, tc := range []struct {
		noted string
		want  time.Duration
	}{
		{"", 0},
		{"-1s", 0},
		{"250ms", 250 * time.Millisecond},
		{"10m", 10 * time.Minute},
	} {
		for _, batched := range []bool{false, true} {
			ctx, after := WithReadAfter(testCtx(t))
			var resp pb.StatusLeaderResponse
			call := p.Call
			if batched {
				call = p.CallBatched
			}
			if err := call(ctx, n.addr, "Test.ReadAfter", &pb.StatusRequest{Dc: tc.noted}, &resp); err != nil {
				t.Fatal(err)
			}
			if got := after.Get(); got != tc.want {
				t.Errorf("noted %q (batched %v): caller got %v, want %v", tc.noted, batched, got, tc.want)
			}
		}
	}
	// Without a ReadAfter in the context noting is a no-op.
	NoteReadAfter(context.Background(), time.Second)
	if (*ReadAfter)(nil).Get() != 0 {
		t.Error("a nil ReadAfter holds a duration")
	}
}

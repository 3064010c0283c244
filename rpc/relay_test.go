package rpc

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-io/meridian/pb"
)

// The relay hop count travels to the handler, and the relay a handler (or
// a call it made) noted travels back to the caller's note, errors or not.
func TestRelayHopsAndNoteCrossTheWire(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		Handle(s, "Test.Relay", func(ctx context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
			hops := RelayHops(ctx)
			if req.GetDc() != "" {
				NoteRelay(ctx, req.GetDc())
			}
			if req.GetDc() == "fail" {
				return nil, fmt.Errorf("%w: relayed and failed", ErrNoPathToDC)
			}
			return &pb.StatusLeaderResponse{Address: fmt.Sprint(hops)}, nil
		})
	})
	p, _ := newTestPool(t, PoolConfig{})
	for _, tc := range []struct {
		hops    uint32
		relay   string
		wantErr bool
	}{
		{hops: 0, relay: ""},
		{hops: 1, relay: "dc2"},
		{hops: 3, relay: "fail", wantErr: true},
	} {
		ctx, note := WithRelayNote(WithRelayHops(testCtx(t), tc.hops))
		var resp pb.StatusLeaderResponse
		err := p.Call(ctx, n.addr, "Test.Relay", &pb.StatusRequest{Dc: tc.relay}, &resp)
		if (err != nil) != tc.wantErr {
			t.Fatalf("hops %d: error %v", tc.hops, err)
		}
		if !tc.wantErr && resp.Address != fmt.Sprint(tc.hops) {
			t.Errorf("handler saw %s hops, want %d", resp.Address, tc.hops)
		}
		if got := note.Via(); got != tc.relay {
			t.Errorf("hops %d: note says %q, want %q", tc.hops, got, tc.relay)
		}
	}
	// Without a note in the context noting is a no-op.
	NoteRelay(context.Background(), "dc9")
	if (*RelayNote)(nil).Via() != "" {
		t.Error("a nil note names a relay")
	}
}

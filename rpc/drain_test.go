package rpc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
)

// Shutdown lets a call in flight finish and be answered; a call that
// arrives meanwhile is refused as never run (ErrNoLeader, which a
// forwarding server retries elsewhere); Shutdown returns once the call in
// flight is answered.
func TestShutdownDrainsCallsInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	n := startNode(t, "127.0.0.1:0", ServerConfig{ShutdownDrain: time.Minute}, func(s *Server) {
		Handle(s, "Test.Slow", func(ctx context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
			close(started)
			<-release
			return &pb.StatusLeaderResponse{Address: "done"}, nil
		})
		registerEcho(s)
	})
	p, _ := newTestPool(t, PoolConfig{})
	// A first call opens the session the others share.
	var echo pb.StatusLeaderResponse
	if err := p.Call(testCtx(t), n.addr, "Status.Echo", &pb.StatusRequest{Dc: "x"}, &echo); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	var slowResp pb.StatusLeaderResponse
	go func() { slow <- p.Call(testCtx(t), n.addr, "Test.Slow", &pb.StatusRequest{}, &slowResp) }()
	<-started
	down := make(chan struct{})
	go func() {
		n.srv.Shutdown()
		close(down)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n.srv.mu.Lock()
		closed := n.srv.closed
		n.srv.mu.Unlock()
		if closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Shutdown never began")
		}
		time.Sleep(time.Millisecond)
	}
	err := p.Call(testCtx(t), n.addr, "Status.Echo", &pb.StatusRequest{Dc: "y"}, &echo)
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("call during the drain: %v, want ErrNoLeader", err)
	}
	select {
	case <-down:
		t.Fatal("Shutdown returned with a call in flight")
	default:
	}
	close(release)
	if err := <-slow; err != nil || slowResp.Address != "done" {
		t.Fatalf("call in flight at shutdown: %v (%q), want its answer", err, slowResp.Address)
	}
	select {
	case <-down:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return after the last call")
	}
}

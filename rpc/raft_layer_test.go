package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// raftNode is a Mux whose RaftLayer carries a real raft NetworkTransport.
type raftNode struct {
	mux   *Mux
	trans *raft.NetworkTransport
}

func startRaftNode(t *testing.T, opts ...MuxOption) *raftNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux(ln, nil, opts...)
	serveDone := make(chan error, 1)
	go func() { serveDone <- mux.Serve() }()
	trans := raft.NewNetworkTransport(raftStream{mux.RaftLayer()}, 3, 10*time.Second, io.Discard)
	t.Cleanup(func() {
		trans.CloseStreams()
		trans.Close()
		mux.Close()
		if err := <-serveDone; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &raftNode{mux: mux, trans: trans}
}

// serveRaft answers every AppendEntries and RequestVote reaching n until
// the test ends.
func serveRaft(t *testing.T, n *raftNode, term uint64) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case rpc := <-n.trans.Consumer():
				switch req := rpc.Command.(type) {
				case *raft.AppendEntriesRequest:
					rpc.Respond(&raft.AppendEntriesResponse{Term: term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}, nil)
				case *raft.RequestVoteRequest:
					rpc.Respond(&raft.RequestVoteResponse{Term: term, Granted: req.Term >= term}, nil)
				default:
					rpc.Respond(nil, io.ErrUnexpectedEOF)
				}
			}
		}
	}()
}

func TestRaftLayerCarriesNetworkTransport(t *testing.T) {
	a := startRaftNode(t)
	b := startRaftNode(t)
	serveRaft(t, b, 7)
	serveRaft(t, a, 7)

	if got, want := a.trans.LocalAddr(), raft.ServerAddress(a.mux.Addr().String()); got != want {
		t.Fatalf("LocalAddr = %q, want %q", got, want)
	}
	for i := range 3 { // reuses the pooled raft connection after the first
		req := &raft.AppendEntriesRequest{
			RPCHeader:    raft.RPCHeader{ID: []byte("a"), Addr: []byte(a.trans.LocalAddr())},
			Term:         7,
			PrevLogEntry: uint64(10 * i),
			Entries:      []*raft.Log{{Index: uint64(10*i + 1), Term: 7, Type: raft.LogCommand, Data: []byte("x")}},
		}
		var resp raft.AppendEntriesResponse
		if err := a.trans.AppendEntries("b", b.trans.LocalAddr(), req, &resp); err != nil {
			t.Fatalf("AppendEntries %d: %v", i, err)
		}
		if !resp.Success || resp.Term != 7 || resp.LastLog != uint64(10*i+1) {
			t.Fatalf("AppendEntries %d answered %+v", i, resp)
		}
	}
	var vote raft.RequestVoteResponse
	if err := b.trans.RequestVote("a", a.trans.LocalAddr(), &raft.RequestVoteRequest{Term: 8}, &vote); err != nil {
		t.Fatalf("RequestVote: %v", err)
	}
	if !vote.Granted || vote.Term != 7 {
		t.Fatalf("RequestVote answered %+v", vote)
	}
}

func TestRaftLayerAdvertiseAndDialSeam(t *testing.T) {
	adv := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8300}
	var dials atomic.Int32
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialTCP(ctx, addr)
	}
	a := startRaftNode(t, WithAdvertiseAddr(adv), WithRaftDial(dial))
	b := startRaftNode(t)
	serveRaft(t, b, 1)
	if got := a.trans.LocalAddr(); got != "10.1.2.3:8300" {
		t.Fatalf("LocalAddr = %q, want the advertised address", got)
	}
	var resp raft.AppendEntriesResponse
	if err := a.trans.AppendEntries("b", b.trans.LocalAddr(), &raft.AppendEntriesRequest{Term: 1}, &resp); err != nil {
		t.Fatalf("AppendEntries: %v", err)
	}
	if !resp.Success || dials.Load() != 1 {
		t.Fatalf("resp %+v after %d dials; want success through the seam", resp, dials.Load())
	}
}

// raftStream adapts a RaftLayer to raft.StreamLayer, as dc does.
type raftStream struct{ *RaftLayer }

func (r raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return r.RaftLayer.Dial(string(addr), timeout)
}

// TestRaftLayerCloseEndsRPCsInFlight: closing the transport (which closes
// its stream layer) ends a Raft RPC waiting on a peer that never answers,
// as a vote request to a paused server does, instead of leaving it to the
// transport's 10 s timeout. Raft waits for such RPCs before it reports
// that it has shut down.
func TestRaftLayerCloseEndsRPCsInFlight(t *testing.T) {
	a := startRaftNode(t)
	b := startRaftNode(t) // nobody consumes b's RPCs: it never answers
	done := make(chan error, 1)
	go func() {
		var resp raft.RequestVoteResponse
		done <- a.trans.RequestVote("b", b.trans.LocalAddr(), &raft.RequestVoteRequest{Term: 3}, &resp)
	}()
	waitFor(t, "the vote request on its way", 5*time.Second, func() bool {
		a.mux.raft.mu.Lock()
		defer a.mux.raft.mu.Unlock()
		return len(a.mux.raft.conns) == 1
	})
	select {
	case err := <-done:
		t.Fatalf("RequestVote to a silent peer returned %v before the transport closed", err)
	default:
	}
	closedAt := time.Now()
	a.trans.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("RequestVote succeeded after the transport closed")
		}
		if took := time.Since(closedAt); took > 2*time.Second {
			t.Fatalf("RequestVote ended %s after the transport closed", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RequestVote still waiting 5 s after the transport closed")
	}
	if _, err := a.mux.RaftLayer().Dial(string(b.trans.LocalAddr()), time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Dial after Close = %v, want net.ErrClosed", err)
	}
}

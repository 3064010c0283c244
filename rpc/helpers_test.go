package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNode is one server port: a listener, its Mux and an RPC Server.
type testNode struct {
	addr      string
	mux       *Mux
	srv       *Server
	serveDone chan error
	stopOnce  sync.Once
}

// startNode listens on addr ("127.0.0.1:0" for any port) and serves the
// methods register installs. It stops at the end of the test.
func startNode(t testing.TB, addr string, cfg ServerConfig, register func(*Server)) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	n := &testNode{
		addr:      ln.Addr().String(),
		mux:       NewMux(ln, nil),
		srv:       NewServer(cfg),
		serveDone: make(chan error, 1),
	}
	if register != nil {
		register(n.srv)
	}
	n.mux.HandleRPC(n.srv.ServeConn)
	go func() { n.serveDone <- n.mux.Serve() }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop closes the Mux and shuts the Server down, checking Serve returned nil.
func (n *testNode) stop(t testing.TB) {
	t.Helper()
	n.stopOnce.Do(func() {
		if err := n.mux.Close(); err != nil {
			t.Errorf("mux close: %v", err)
		}
		n.srv.Shutdown()
		select {
		case err := <-n.serveDone:
			if err != nil {
				t.Errorf("Serve returned %v after Close", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
}

// echo answers StatusRequest{Dc: x} with StatusLeaderResponse{Address: x}.
func registerEcho(s *Server) {
	Handle(s, "Status.Echo", func(_ context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
		return &pb.StatusLeaderResponse{Address: req.GetDc()}, nil
	})
}

// countingDialer dials TCP and counts the dials.
type countingDialer struct{ n atomic.Int32 }

func (d *countingDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	d.n.Add(1)
	return dialTCP(ctx, addr)
}

// newTestPool returns a pool dialing through a counter, closed at the end
// of the test.
func newTestPool(t testing.TB, cfg PoolConfig) (*Pool, *countingDialer) {
	t.Helper()
	d := &countingDialer{}
	cfg.Dial = d.Dial
	p := NewPool(cfg)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("pool close: %v", err)
		}
	})
	return p, d
}

func callEcho(ctx context.Context, p *Pool, addr, text string) (string, error) {
	var resp pb.StatusLeaderResponse
	err := p.Call(ctx, addr, "Status.Echo", &pb.StatusRequest{Dc: text}, &resp)
	return resp.GetAddress(), err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func isTransport(err error) bool { return errors.Is(err, ErrTransport) }

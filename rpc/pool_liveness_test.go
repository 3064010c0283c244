package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// darkLink is the client's end of a connection whose link can go dark
// without closing (a stopped server process, a black-holed route): while
// dark, what the client writes is swallowed (or, with hold, its writes
// block until the connection closes, as a full send buffer does) and
// nothing reaches it.
type darkLink struct {
	net.Conn
	dark, hold *atomic.Bool
	closed     chan struct{}
	closeOnce  *sync.Once
}

func (c darkLink) Write(b []byte) (int, error) {
	if c.dark.Load() {
		if c.hold.Load() {
			<-c.closed
			return 0, net.ErrClosed
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c darkLink) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c darkLink) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || !c.dark.Load() {
			return n, err
		}
	}
}

// pipeServer is an RPC server reached over net.Pipe, so that a test runs
// in a synctest bubble, with a switch that darkens every link to it.
type pipeServer struct {
	srv   *Server
	dark  atomic.Bool
	hold  atomic.Bool
	dials atomic.Int32
}

func startPipeServer(t *testing.T) *pipeServer {
	ps := &pipeServer{srv: NewServer(ServerConfig{})}
	registerEcho(ps.srv)
	// Test.Hold answers after the wait the request names (a blocking
	// query's), or never if the caller goes first.
	Handle(ps.srv, "Test.Hold", func(ctx context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
		d, err := time.ParseDuration(req.GetDc())
		if err != nil {
			return nil, err
		}
		select {
		case <-time.After(d):
			return &pb.StatusLeaderResponse{Address: "held " + req.GetDc()}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	t.Cleanup(ps.srv.Shutdown)
	return ps
}

func (ps *pipeServer) dial(context.Context, string) (net.Conn, error) {
	ps.dials.Add(1)
	server, client := net.Pipe()
	go func() {
		var b [1]byte
		if _, err := io.ReadFull(server, b[:]); err != nil || b[0] != ProtoRPC {
			server.Close()
			return
		}
		ps.srv.ServeConn(server)
	}()
	return darkLink{Conn: client, dark: &ps.dark, hold: &ps.hold, closed: make(chan struct{}), closeOnce: new(sync.Once)}, nil
}

func hold(ctx context.Context, p *Pool, d time.Duration) (string, error) {
	var resp pb.StatusLeaderResponse
	err := p.Call(ctx, "server:8300", "Test.Hold", &pb.StatusRequest{Dc: d.String()}, &resp)
	return resp.GetAddress(), err
}

// A server that stalls under an open session (it answers nothing and
// closes nothing) fails every call waiting on it within PingAfter +
// PingTimeout, as an ErrUnresponsive transport error, instead of holding
// it for yamux's 30 s keepalive or the call's own deadline; the next call
// dials afresh.
func TestPoolClosesSessionThatStopsAnswering(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ps := startPipeServer(t)
		p := NewPool(PoolConfig{Dial: ps.dial})
		defer p.Close()
		cfg := DefaultPoolConfig()
		bound := cfg.PingAfter + cfg.PingTimeout
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := callEcho(ctx, p, "server:8300", "up"); err != nil {
			t.Fatal(err)
		}

		ps.dark.Store(true)
		start := time.Now()
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := hold(ctx, p, 5*time.Minute)
				errs <- err
			}()
		}
		for range 2 {
			err := <-errs
			if !errors.Is(err, ErrUnresponsive) || !errors.Is(err, ErrTransport) || errors.Is(err, ErrNotSent) {
				t.Fatalf("call to a stalled server: %v, want ErrUnresponsive and ErrTransport (and not ErrNotSent: it was sent)", err)
			}
		}
		if took := time.Since(start); took > bound {
			t.Fatalf("calls to a stalled server failed after %s, want within %s", took, bound)
		}

		ps.dark.Store(false)
		if got, err := callEcho(ctx, p, "server:8300", "back"); err != nil || got != "back" {
			t.Fatalf("call after the link came back: %q, %v", got, err)
		}
		if n := ps.dials.Load(); n != 2 {
			t.Fatalf("%d dials, want 2 (the dead session was replaced)", n)
		}
	})
}

// A call on a healthy session may wait for its answer far longer than
// the ping bounds: the session proves alive by its pongs.
func TestPoolLongCallOnHealthySessionSucceeds(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ps := startPipeServer(t)
		p := NewPool(PoolConfig{Dial: ps.dial})
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 11*time.Minute)
		defer cancel()
		start := time.Now()
		got, err := hold(ctx, p, 10*time.Minute)
		if err != nil || got != "held 10m0s" {
			t.Fatalf("10-minute call on a healthy session: %q, %v", got, err)
		}
		if took := time.Since(start); took != 10*time.Minute {
			t.Fatalf("call took %s, want 10m", took)
		}
		if n := ps.dials.Load(); n != 1 {
			t.Fatalf("%d dials, want 1", n)
		}
	})
}

// A server that stalled while its session sat idle fails the next call
// sooner: a session not heard from within PingAfter is pinged after
// staleProbeAfter.
func TestPoolProbesIdleSessionSoon(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ps := startPipeServer(t)
		p := NewPool(PoolConfig{Dial: ps.dial})
		defer p.Close()
		cfg := DefaultPoolConfig()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := callEcho(ctx, p, "server:8300", "up"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cfg.PingAfter) // bubble time: the session sits idle
		ps.dark.Store(true)
		start := time.Now()
		_, err := hold(ctx, p, time.Minute)
		if took := time.Since(start); !errors.Is(err, ErrUnresponsive) || took > staleProbeAfter+cfg.PingTimeout {
			t.Fatalf("call on an idle session to a stalled server: %v after %s, want ErrUnresponsive within %s",
				err, took, staleProbeAfter+cfg.PingTimeout)
		}
	})
}

// When the dark link holds writes (a full send buffer), even opening the
// stream waits (yamux waits for its SYN to be written, up to its 10 s
// write timeout): the watch covers that too, and since the request itself
// was never written the call fails as not sent, so a write may go to
// another server. The call's context sets tighter bounds than the pool's.
func TestPoolOpenOnHeldLinkFailsAsNotSent(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		ps := startPipeServer(t)
		p := NewPool(PoolConfig{Dial: ps.dial})
		defer p.Close()
		b := PingBounds{After: 500 * time.Millisecond, Timeout: time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		ctx = WithPingBounds(ctx, b)
		if _, err := callEcho(ctx, p, "server:8300", "up"); err != nil {
			t.Fatal(err)
		}
		ps.hold.Store(true)
		ps.dark.Store(true)
		start := time.Now()
		_, err := hold(ctx, p, time.Minute)
		if took := time.Since(start); !errors.Is(err, ErrUnresponsive) || !errors.Is(err, ErrNotSent) || took > b.After+b.Timeout {
			t.Fatalf("call over a held link: %v after %s, want ErrUnresponsive and ErrNotSent within %s",
				err, took, b.After+b.Timeout)
		}
	})
}

package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
	"google.golang.org/protobuf/proto"
)

func TestPoolReusesOneSession(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, d := newTestPool(t, PoolConfig{})
	ctx := testCtx(t)
	for i := range 50 {
		want := fmt.Sprintf("call-%d", i)
		got, err := callEcho(ctx, p, n.addr, want)
		if err != nil || got != want {
			t.Fatalf("call %d = %q, %v; want %q", i, got, err, want)
		}
	}
	if got := d.n.Load(); got != 1 {
		t.Fatalf("%d dials for 50 calls, want 1", got)
	}
}

func TestPoolConcurrentCalls(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, d := newTestPool(t, PoolConfig{})
	ctx := testCtx(t)
	const workers, calls = 64, 20
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				want := fmt.Sprintf("w%d-c%d", w, i)
				got, err := callEcho(ctx, p, n.addr, want)
				if err != nil || got != want {
					errs <- fmt.Errorf("worker %d call %d = %q, %v", w, i, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := d.n.Load(); got != 1 {
		t.Fatalf("%d dials for %d concurrent calls, want 1 shared session", got, workers*calls)
	}
}

func TestPoolRedialsAfterServerClosedSession(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, d := newTestPool(t, PoolConfig{})
	ctx := testCtx(t)
	if _, err := callEcho(ctx, p, n.addr, "before"); err != nil {
		t.Fatal(err)
	}
	n.stop(t)
	waitFor(t, "the pool's session to see the server hang up", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		e := p.entries[n.addr]
		return e == nil || e.sess.IsClosed()
	})

	// Nobody listens now: a transport error, the cue to try another server.
	if _, err := callEcho(ctx, p, n.addr, "down"); !isTransport(err) {
		t.Fatalf("call to a stopped server = %v, want ErrTransport", err)
	}

	startNode(t, n.addr, ServerConfig{}, registerEcho)
	got, err := callEcho(ctx, p, n.addr, "after")
	if err != nil || got != "after" {
		t.Fatalf("call after restart = %q, %v", got, err)
	}
	if got := d.n.Load(); got != 3 { // first session, the refused dial, the new session
		t.Fatalf("%d dials, want 3", got)
	}
}

func TestPoolReapsIdleSessions(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, d := newTestPool(t, PoolConfig{IdleTimeout: 50 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := callEcho(ctx, p, n.addr, "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle session to be reaped", 5*time.Second, func() bool { return p.numSessions() == 0 })
	if _, err := callEcho(ctx, p, n.addr, "y"); err != nil {
		t.Fatal(err)
	}
	if got := d.n.Load(); got != 2 {
		t.Fatalf("%d dials, want 2 (one before and one after reaping)", got)
	}
}

// A session busy with a long call is not reaped, however long ago it was
// last released; once free it is.
func TestPoolKeepsBusySession(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		registerEcho(s)
		s.Register("Test.Block", func(ctx context.Context, _ []byte) (proto.Message, error) {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		})
	})
	p, d := newTestPool(t, PoolConfig{IdleTimeout: time.Minute})
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { done <- p.Call(ctx, n.addr, "Test.Block", &pb.StatusRequest{}, nil) }()
	<-started
	p.reapIdle(time.Now().Add(time.Hour)) // a reaper tick long past the idle timeout
	if p.numSessions() != 1 {
		t.Fatal("busy session was reaped")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("blocked call: %v", err)
	}
	p.reapIdle(time.Now().Add(time.Hour))
	if p.numSessions() != 0 {
		t.Fatal("idle session was not reaped")
	}
	if d.n.Load() != 1 {
		t.Fatalf("%d dials, want 1", d.n.Load())
	}
}

func TestPoolErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()

	p, _ := newTestPool(t, PoolConfig{})
	ctx := testCtx(t)
	if _, err := callEcho(ctx, p, deadAddr, "x"); !isTransport(err) {
		t.Errorf("dial refused = %v, want ErrTransport", err)
	}
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := callEcho(expired, p, deadAddr, "x"); !errors.Is(err, context.Canceled) || isTransport(err) {
		t.Errorf("canceled ctx = %v, want context.Canceled and no ErrTransport", err)
	}
	p.Close()
	if _, err := callEcho(ctx, p, deadAddr, "x"); !errors.Is(err, ErrShutdown) || isTransport(err) {
		t.Errorf("call after Close = %v, want ErrShutdown", err)
	}
}

// A request that never left (refused dial, a dial that hangs past
// DialTimeout) is marked ErrNotSent, so a write may go to another server.
func TestPoolMarksRequestsNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	ctx := testCtx(t)

	p, _ := newTestPool(t, PoolConfig{})
	if _, err := callEcho(ctx, p, deadAddr, "x"); !errors.Is(err, ErrNotSent) || !isTransport(err) {
		t.Errorf("refused dial = %v, want ErrNotSent and ErrTransport", err)
	}

	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	slow, _ := newTestPool(t, PoolConfig{DialTimeout: 50 * time.Millisecond, Dial: func(ctx context.Context, addr string) (net.Conn, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-hang:
			return nil, errors.New("unreachable")
		}
	}})
	if _, err := callEcho(ctx, slow, "127.0.0.1:1", "x"); !errors.Is(err, ErrNotSent) || !isTransport(err) || ctx.Err() != nil {
		t.Errorf("dial past DialTimeout = %v, want ErrNotSent and ErrTransport before the call's own deadline", err)
	}
}

package rpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestErrorIdentityAcrossTheWire(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		Handle(s, "Test.Fail", func(_ context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
			i, _ := strconv.Atoi(req.GetDc())
			return nil, fmt.Errorf("%w: txn has 129 ops, max 128", sentinelCases[i].err)
		})
	})
	p, _ := newTestPool(t, PoolConfig{})
	ctx := testCtx(t)
	for i, tc := range sentinelCases {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Call(ctx, n.addr, "Test.Fail", &pb.StatusRequest{Dc: strconv.Itoa(i)}, &pb.StatusLeaderResponse{})
			want := fmt.Errorf("%w: txn has 129 ops, max 128", tc.err).Error()
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v, want text %q", err, want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.err)
			}
			if isTransport(err) {
				t.Errorf("remote error %v is marked as a transport error", err)
			}
			var remote *RemoteError
			if !errors.As(err, &remote) || remote.Code != tc.code {
				t.Errorf("error %v is not a RemoteError with code %v", err, tc.code)
			}
		})
	}
}

func TestDeadlineHonouredOnBothSides(t *testing.T) {
	type seen struct {
		deadline time.Time
		err      error
	}
	handlerSaw := make(chan seen, 1)
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		s.Register("Test.Block", func(ctx context.Context, _ []byte) (proto.Message, error) {
			dl, _ := ctx.Deadline()
			<-ctx.Done()
			handlerSaw <- seen{dl, ctx.Err()}
			return nil, ctx.Err()
		})
	})
	p, _ := newTestPool(t, PoolConfig{})

	const timeout = 300 * time.Millisecond
	start := time.Now() // before the deadline is set: it is never before start + timeout
	ctx, cancel := context.WithTimeout(testCtx(t), timeout)
	defer cancel()
	clientDeadline, _ := ctx.Deadline()
	err := p.Call(ctx, n.addr, "Test.Block", &pb.StatusRequest{}, nil)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || isTransport(err) {
		t.Fatalf("call = %v, want context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Fatalf("call returned after %v, want near its %v deadline", elapsed, timeout)
	}
	select {
	case s := <-handlerSaw:
		if !s.deadline.Equal(clientDeadline) {
			t.Errorf("handler deadline %v, want the caller's %v", s.deadline, clientDeadline)
		}
		if !errors.Is(s.err, context.DeadlineExceeded) {
			t.Errorf("handler ctx ended with %v, want DeadlineExceeded", s.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler ctx was not canceled")
	}
}

func TestCallerCancelReachesHandler(t *testing.T) {
	started := make(chan struct{})
	cause := make(chan error, 1)
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		s.Register("Test.Block", func(ctx context.Context, _ []byte) (proto.Message, error) {
			if _, ok := ctx.Deadline(); ok {
				t.Error("handler has a deadline the caller did not set")
			}
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		})
	})
	p, _ := newTestPool(t, PoolConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Call(ctx, n.addr, "Test.Block", &pb.StatusRequest{}, nil) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || isTransport(err) {
			t.Fatalf("call = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call did not return after cancel")
	}
	select {
	case err := <-cause:
		if !errors.Is(err, errCallerGone) {
			t.Fatalf("handler ctx cause = %v, want errCallerGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler ctx was not canceled when the caller gave up")
	}
}

func TestHandlerPanicIsInternalAndServerSurvives(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		registerEcho(s)
		s.Register("Test.Panic", func(context.Context, []byte) (proto.Message, error) {
			panic("boom")
		})
	})
	p, d := newTestPool(t, PoolConfig{})
	ctx := testCtx(t)
	err := p.Call(ctx, n.addr, "Test.Panic", &pb.StatusRequest{}, nil)
	if !errors.Is(err, ErrInternal) || isTransport(err) {
		t.Fatalf("panicking handler = %v, want ErrInternal", err)
	}
	if got, err := callEcho(ctx, p, n.addr, "still here"); err != nil || got != "still here" {
		t.Fatalf("call after panic = %q, %v", got, err)
	}
	if d.n.Load() != 1 {
		t.Fatalf("%d dials: the panic cost the session", d.n.Load())
	}
}

func TestUnknownMethod(t *testing.T) {
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, registerEcho)
	p, _ := newTestPool(t, PoolConfig{})
	err := p.Call(testCtx(t), n.addr, "Nope.Nothing", &pb.StatusRequest{}, nil)
	if !errors.Is(err, ErrUnknownMethod) || !strings.Contains(err.Error(), "Nope.Nothing") {
		t.Fatalf("unknown method = %v, want ErrUnknownMethod naming it", err)
	}
}

func TestMessageTooLarge(t *testing.T) {
	const serverMax = 64 << 10
	n := startNode(t, "127.0.0.1:0", ServerConfig{MaxMessageSize: serverMax}, func(s *Server) {
		registerEcho(s)
		// Test.Big answers with a response of the size asked for.
		Handle(s, "Test.Big", func(_ context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
			size, _ := strconv.Atoi(req.GetDc())
			return &pb.StatusLeaderResponse{Address: strings.Repeat("r", size)}, nil
		})
	})
	for _, tc := range []struct {
		name       string
		poolMax    int
		method     string
		reqBytes   int
		wantRemote bool // refused by the server rather than by the pool
		wantDials  int32
	}{
		{"request over the server's max", 0, "Status.Echo", 1 << 20, true, 1},
		{"request over the pool's max", serverMax, "Status.Echo", 2 * serverMax, false, 0},
		{"response over the server's max", 0, "Test.Big", 2 * serverMax, true, 1},
		{"response over the pool's max", 1024, "Test.Big", 4096, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, d := newTestPool(t, PoolConfig{MaxMessageSize: tc.poolMax})
			ctx := testCtx(t)
			req := &pb.StatusRequest{Dc: strings.Repeat("q", tc.reqBytes)}
			if tc.method == "Test.Big" {
				req.Dc = strconv.Itoa(tc.reqBytes)
			}
			err := p.Call(ctx, n.addr, tc.method, req, &pb.StatusLeaderResponse{})
			var remote *RemoteError
			if !errors.Is(err, ErrTooLarge) || isTransport(err) || errors.As(err, &remote) != tc.wantRemote {
				t.Fatalf("call = %v, want ErrTooLarge (remote: %v)", err, tc.wantRemote)
			}
			if d.n.Load() != tc.wantDials {
				t.Fatalf("%d dials, want %d", d.n.Load(), tc.wantDials)
			}
			// The server is fine for a call of normal size.
			if got, err := callEcho(ctx, p, n.addr, "ok"); err != nil || got != "ok" {
				t.Fatalf("echo after too large = %q, %v", got, err)
			}
		})
	}
}

func TestHandleRejectsMalformedPayload(t *testing.T) {
	s := NewServer(ServerConfig{})
	defer s.Shutdown()
	registerEcho(s)
	_, err := s.handler("Status.Echo")(context.Background(), []byte{0xff, 0xff, 0xff})
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("malformed payload = %v, want ErrBadRequest", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	s := NewServer(ServerConfig{})
	defer s.Shutdown()
	registerEcho(s)
	defer func() {
		if recover() == nil {
			t.Fatal("second Register of the same method did not panic")
		}
	}()
	registerEcho(s)
}

// Shutdown cancels handlers in flight, fails their calls as transport
// errors and leaves no goroutine behind.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	started := make(chan struct{}, 8)
	causes := make(chan error, 8)
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		registerEcho(s)
		s.Register("Test.Block", func(ctx context.Context, _ []byte) (proto.Message, error) {
			started <- struct{}{}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return nil, ctx.Err()
		})
	})
	p := NewPool(PoolConfig{})
	ctx := testCtx(t)
	const inflight = 4
	done := make(chan error, inflight)
	for range inflight {
		go func() { done <- p.Call(ctx, n.addr, "Test.Block", &pb.StatusRequest{}, nil) }()
	}
	for range inflight {
		<-started
	}
	n.stop(t)
	for range inflight {
		if err := <-done; !isTransport(err) {
			t.Errorf("call cut by Shutdown = %v, want ErrTransport", err)
		}
		if err := <-causes; !errors.Is(err, ErrShutdown) && !errors.Is(err, errCallerGone) {
			t.Errorf("handler ctx cause = %v, want ErrShutdown", err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

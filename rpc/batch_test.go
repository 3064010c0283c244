package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meridian-io/meridian/pb"
	"google.golang.org/protobuf/proto"
)

// gatedServer answers Test.Gate with its argument; calls named "hold"
// wait until the gate opens. It records which calls came in a batch.
type gatedServer struct {
	gate    chan struct{}
	holding atomic.Int32
	mu      sync.Mutex
	batched map[string]bool
}

func startGatedNode(t *testing.T, withBatch bool) (*testNode, *gatedServer) {
	g := &gatedServer{gate: make(chan struct{}), batched: map[string]bool{}}
	n := startNode(t, "127.0.0.1:0", ServerConfig{}, func(s *Server) {
		if !withBatch { // a server of an earlier version
			delete(s.handlers, BatchMethod)
		}
		Handle(s, "Test.Gate", func(ctx context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
			arg := req.GetDc()
			g.mu.Lock()
			g.batched[arg] = Batched(ctx)
			g.mu.Unlock()
			switch arg {
			case "hold":
				g.holding.Add(1)
				<-g.gate
			case "bad":
				return nil, fmt.Errorf("%w: bad argument", ErrBadRequest)
			}
			return &pb.StatusLeaderResponse{Address: arg}, nil
		})
	})
	return n, g
}

func (p *Pool) queued(addr string) int {
	b := p.batcherFor(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// fillBatch holds both batches in flight with a "hold" call each, then
// makes the calls of args, which wait together; it returns their results
// once the gate opens.
func fillBatch(t *testing.T, p *Pool, n *testNode, g *gatedServer, args []string) []error {
	t.Helper()
	ctx := testCtx(t)
	var wg sync.WaitGroup
	call := func(arg string) error {
		var resp pb.StatusLeaderResponse
		err := p.CallBatched(ctx, n.addr, "Test.Gate", &pb.StatusRequest{Dc: arg}, &resp)
		if err == nil && resp.GetAddress() != arg {
			err = fmt.Errorf("answer %q, want %q", resp.GetAddress(), arg)
		}
		return err
	}
	var release sync.Once
	open := func() { release.Do(func() { close(g.gate) }) }
	t.Cleanup(open) // a failed wait must not leave handlers held
	for i := range batchesInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call("hold"); err != nil {
				t.Errorf("hold: %v", err)
			}
		}()
		// One at a time, so that each goes alone.
		waitFor(t, "a held call to reach the server", 5*time.Second, func() bool { return int(g.holding.Load()) == i+1 })
	}
	errs := make([]error, len(args))
	for i, arg := range args {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = call(arg)
		}()
	}
	waitFor(t, "the calls to queue", 5*time.Second, func() bool { return p.queued(n.addr) == len(args) })
	open()
	wg.Wait()
	return errs
}

func TestCallBatchedSendsWaitingCallsTogether(t *testing.T) {
	n, g := startGatedNode(t, true)
	p, d := newTestPool(t, PoolConfig{})
	var args []string
	for i := range 20 {
		args = append(args, fmt.Sprintf("w%d", i))
	}
	for i, err := range fillBatch(t, p, n, g, args) {
		if err != nil {
			t.Errorf("%s: %v", args[i], err)
		}
	}
	if g.batched["hold"] {
		t.Errorf("a lone call went in a batch envelope")
	}
	for _, a := range args {
		if !g.batched[a] {
			t.Errorf("call %s did not come in a batch", a)
		}
	}
	if d.n.Load() != 1 {
		t.Errorf("%d dials, want 1", d.n.Load())
	}
}

// A lone call goes out from its caller's goroutine as a plain call; one
// whose caller gave up first never reaches the server, and the calls after
// it go out as before.
func TestCallBatchedLoneCalls(t *testing.T) {
	n, g := startGatedNode(t, true)
	close(g.gate)
	p, _ := newTestPool(t, PoolConfig{})
	gone, giveUp := context.WithCancel(testCtx(t))
	giveUp()
	var resp pb.StatusLeaderResponse
	if err := p.CallBatched(gone, n.addr, "Test.Gate", &pb.StatusRequest{Dc: "gone"}, &resp); !errors.Is(err, context.Canceled) {
		t.Fatalf("call given up before it went: %v, want context.Canceled", err)
	}
	for _, arg := range []string{"a", "b"} {
		if err := p.CallBatched(testCtx(t), n.addr, "Test.Gate", &pb.StatusRequest{Dc: arg}, &resp); err != nil || resp.Address != arg {
			t.Fatalf("lone call %s: %q, %v", arg, resp.Address, err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ran := g.batched["gone"]; ran {
		t.Fatal("a call given up before it went reached the server")
	}
	if g.batched["a"] || g.batched["b"] {
		t.Fatalf("a lone call went in a batch envelope: %v", g.batched)
	}
	if p.queued(n.addr) != 0 {
		t.Fatalf("%d calls left queued", p.queued(n.addr))
	}
}

func TestCallBatchedKeepsErrorsPerCall(t *testing.T) {
	n, g := startGatedNode(t, true)
	p, _ := newTestPool(t, PoolConfig{})
	errs := fillBatch(t, p, n, g, []string{"ok1", "bad", "ok2"})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good calls in a batch with a bad one: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], ErrBadRequest) {
		t.Fatalf("bad call: %v, want ErrBadRequest", errs[1])
	}
	// An unknown method in a batch fails alone too.
	var resp pb.StatusLeaderResponse
	err := p.CallBatched(testCtx(t), n.addr, "Test.Missing", &pb.StatusRequest{}, &resp)
	if !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown method: %v, want ErrUnknownMethod", err)
	}
}

func TestCallBatchedFallsBackToPlainCalls(t *testing.T) {
	n, g := startGatedNode(t, false)
	p, _ := newTestPool(t, PoolConfig{})
	args := []string{"a", "b", "c", "d"}
	for i, err := range fillBatch(t, p, n, g, args) {
		if err != nil {
			t.Errorf("%s against a server without batches: %v", args[i], err)
		}
	}
	b := p.batcherFor(n.addr)
	b.mu.Lock()
	plain := !b.plainTill.IsZero()
	b.mu.Unlock()
	if !plain {
		t.Errorf("the pool did not note that the server takes no batches")
	}
}

func TestServerRefusesNestedAndOversizedBatches(t *testing.T) {
	s := NewServer(ServerConfig{})
	defer s.Shutdown()
	inner := &pb.RPCRequest{Method: BatchMethod}
	resp, err := s.serveBatch(context.Background(), mustMarshal(t, &pb.RPCBatchRequest{Calls: []*pb.RPCRequest{inner}}))
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*pb.RPCBatchResponse).Results[0]
	if !errors.Is(ErrorFromWire(r.Error), ErrBadRequest) {
		t.Fatalf("nested batch: %v, want ErrBadRequest", r.Error)
	}
	big := &pb.RPCBatchRequest{}
	for range maxBatchCalls + 1 {
		big.Calls = append(big.Calls, &pb.RPCRequest{Method: "Test.None"})
	}
	if _, err := s.serveBatch(context.Background(), mustMarshal(t, big)); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("batch of %d calls: %v, want ErrBadRequest", len(big.Calls), err)
	}
}

func TestBatchTooLargeAnswersFailAlone(t *testing.T) {
	s := NewServer(ServerConfig{MaxMessageSize: 64 << 10})
	defer s.Shutdown()
	Handle(s, "Test.Big", func(_ context.Context, req *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
		size := 100
		if req.GetDc() == "big" {
			size = 40 << 10
		}
		return &pb.StatusLeaderResponse{Address: string(make([]byte, size))}, nil
	})
	calls := &pb.RPCBatchRequest{}
	for _, a := range []string{"small", "big", "big", "small"} {
		calls.Calls = append(calls.Calls, &pb.RPCRequest{Method: "Test.Big", Payload: mustMarshal(t, &pb.StatusRequest{Dc: a})})
	}
	resp, err := s.serveBatch(context.Background(), mustMarshal(t, calls))
	if err != nil {
		t.Fatal(err)
	}
	res := resp.(*pb.RPCBatchResponse).Results
	tooLarge := 0
	for i, r := range res {
		switch {
		case r.Error != nil && errors.Is(ErrorFromWire(r.Error), ErrTooLarge):
			tooLarge++
		case r.Error != nil:
			t.Errorf("result %d: %v", i, r.Error)
		}
	}
	if tooLarge != 1 || res[0].Error != nil || res[3].Error != nil {
		t.Fatalf("%d answers replaced (want 1 of the big ones, the small ones kept): %v", tooLarge, res)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPoolReapsIdleBatchQueues(t *testing.T) {
	n, _ := startGatedNode(t, true)
	p, _ := newTestPool(t, PoolConfig{IdleTimeout: 50 * time.Millisecond})
	var resp pb.StatusLeaderResponse
	if err := p.CallBatched(testCtx(t), n.addr, "Test.Gate", &pb.StatusRequest{Dc: "x"}, &resp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle session and its batch queue to be reaped", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.entries) == 0 && len(p.batchers) == 0
	})
	if err := p.CallBatched(testCtx(t), n.addr, "Test.Gate", &pb.StatusRequest{Dc: "y"}, &resp); err != nil || resp.GetAddress() != "y" {
		t.Fatalf("call after reaping: %q, %v", resp.GetAddress(), err)
	}
}

// A call given up while queued is not sent again when the server turns
// out not to take batches (it was completed once already).
func TestCallBatchedFallbackSkipsAbandonedCalls(t *testing.T) {
	n, g := startGatedNode(t, false)
	p, _ := newTestPool(t, PoolConfig{})
	var release sync.Once
	open := func() { release.Do(func() { close(g.gate) }) }
	t.Cleanup(open)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for i := range batchesInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp pb.StatusLeaderResponse
			if err := p.CallBatched(ctx, n.addr, "Test.Gate", &pb.StatusRequest{Dc: "hold"}, &resp); err != nil {
				t.Errorf("hold: %v", err)
			}
		}()
		waitFor(t, "a held call to reach the server", 5*time.Second, func() bool { return int(g.holding.Load()) == i+1 })
	}
	gone, giveUp := context.WithCancel(ctx)
	errs := make([]error, 3)
	for i, arg := range []string{"a", "abandoned", "b"} {
		c := ctx
		if arg == "abandoned" {
			c = gone
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp pb.StatusLeaderResponse
			errs[i] = p.CallBatched(c, n.addr, "Test.Gate", &pb.StatusRequest{Dc: arg}, &resp)
		}()
		waitFor(t, "the call to queue", 5*time.Second, func() bool { return p.queued(n.addr) == i+1 })
	}
	giveUp()
	open()
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("calls after the fallback: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], context.Canceled) {
		t.Fatalf("abandoned call: %v, want context.Canceled", errs[1])
	}
	if _, ran := g.batched["abandoned"]; ran {
		t.Fatal("the abandoned call reached the server")
	}
}

// TestBatchedCallsReuseGoroutines: a batch's calls run at once (each waits
// for all the others here), later batches run on the goroutines that
// earlier calls left waiting instead of new ones, and Shutdown ends them.
func TestBatchedCallsReuseGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := NewServer(ServerConfig{})
	const width = 8
	arrived := make(chan struct{}, width)
	all := make(chan struct{})
	var seen atomic.Int64
	Handle(s, "Test.Barrier", func(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
		arrived <- struct{}{}
		if seen.Add(1) == width {
			close(all)
		}
		select {
		case <-all:
			return &pb.StatusLeaderResponse{}, nil
		case <-time.After(10 * time.Second):
			return nil, errors.New("the batch's calls did not all run at once")
		}
	})
	Handle(s, "Test.Quick", func(context.Context, *pb.StatusRequest) (*pb.StatusLeaderResponse, error) {
		return &pb.StatusLeaderResponse{Address: "ok"}, nil
	})
	batch := func(method string) {
		t.Helper()
		req := &pb.RPCBatchRequest{}
		for range width {
			req.Calls = append(req.Calls, &pb.RPCRequest{Method: method, Payload: mustMarshal(t, &pb.StatusRequest{})})
		}
		resp, err := s.serveBatch(context.Background(), mustMarshal(t, req))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.(*pb.RPCBatchResponse).Results {
			if r.Error != nil {
				t.Fatalf("%s call %d: %v", method, i, ErrorFromWire(r.Error))
			}
		}
	}
	batch("Test.Barrier")
	for range 50 {
		batch("Test.Quick")
	}
	// Without reuse each of the 408 calls starts a goroutine; a worker
	// still finishing its last call when the next batch comes is replaced.
	if n := s.callWorkers.Load(); n > 100 {
		t.Fatalf("%d call goroutines started for 408 calls in batches of %d", n, width)
	}
	s.Shutdown()
}

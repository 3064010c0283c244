package rpc

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/meridian-io/meridian/pb"
	"google.golang.org/protobuf/proto"
)

// BatchMethod is the method of a call that carries other calls
// (pb.RPCBatchRequest); every Server answers it.
const BatchMethod = "RPC.Batch"

const (
	// maxBatchCalls bounds the calls of one batch, both ways.
	maxBatchCalls = 256
	// batchesInFlight is how many batches to one address a Pool keeps in
	// flight; calls made meanwhile wait and leave together in the next.
	batchesInFlight = 2
	// batchRetryAfter is how long a Pool sends plain calls to a server
	// that did not know BatchMethod (an older version) before trying a
	// batch again.
	batchRetryAfter = time.Minute
)

// batcher gathers the batched calls to one address.
type batcher struct {
	mu        sync.Mutex
	queue     []*batchItem
	inflight  int
	plainTill time.Time // the server does not take batches until then
}

type batchItem struct {
	ctx  context.Context
	env  *pb.RPCRequest
	done chan struct{}
	out  *pb.RPCResponse
	err  error
}

// CallBatched is Call for calls that answer promptly (writes, non-blocking
// reads): while earlier calls to addr are on their way, it waits and
// leaves with the calls made meanwhile in one envelope, which the server
// runs concurrently, each on its own (authorization, deadline, errors).
// Under concurrency that turns many streams, frames and handler
// goroutines into one. A lone call goes out at once as a plain call. A
// batch that breaks in transit fails all its calls as Call would fail
// each. Never use it for a blocking query: the batch's answer waits for
// its slowest call.
func (p *Pool) CallBatched(ctx context.Context, addr, method string, req, resp proto.Message) error {
	env, err := envelope(ctx, method, req)
	if err != nil {
		return err
	}
	it := &batchItem{ctx: ctx, env: env, done: make(chan struct{})}
	p.batcherFor(addr).enqueue(p, addr, it)
	select {
	case <-it.done:
	case <-ctx.Done():
		return p.callError(ctx, method, addr, ctx.Err())
	}
	if it.err != nil {
		return it.err
	}
	return finishCall(ctx, method, addr, it.out, resp)
}

func (p *Pool) batcherFor(addr string) *batcher {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.batchers == nil {
		p.batchers = make(map[string]*batcher)
	}
	b := p.batchers[addr]
	if b == nil {
		b = &batcher{}
		p.batchers[addr] = b
	}
	return b
}

func (b *batcher) enqueue(p *Pool, addr string, it *batchItem) {
	b.mu.Lock()
	if b.inflight == 0 && len(b.queue) == 0 {
		// A lone call: it goes out from the caller's goroutine (what run
		// would do with it, without a goroutine start and two hand-offs).
		b.inflight++
		b.mu.Unlock()
		if err := it.ctx.Err(); err != nil {
			it.err = p.callError(it.ctx, it.env.Method, addr, err)
		} else {
			it.out, it.err = p.roundTrip(it.ctx, addr, it.env)
		}
		close(it.done)
		b.mu.Lock()
		more := len(b.queue) > 0
		if !more {
			b.inflight--
		}
		b.mu.Unlock()
		if more {
			go b.run(p, addr) // what came meanwhile; the flight passes to it
		}
		return
	}
	b.queue = append(b.queue, it)
	start := b.inflight < batchesInFlight
	if start {
		b.inflight++
	}
	b.mu.Unlock()
	if start {
		go b.run(p, addr)
	}
}

// run sends what is queued, batch after batch, until the queue is empty.
func (b *batcher) run(p *Pool, addr string) {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		items := b.take(p.cfg.MaxMessageSize / 2)
		plain := time.Now().Before(b.plainTill)
		b.mu.Unlock()
		if plain {
			p.sendEach(addr, items)
		} else if refused := p.sendBatch(addr, items); refused != nil {
			b.mu.Lock()
			b.plainTill = time.Now().Add(batchRetryAfter)
			b.mu.Unlock()
			p.sendEach(addr, refused)
		}
	}
}

// take removes from the queue the calls of the next batch: at most
// maxBatchCalls, and no more payload than budget (but at least one call).
func (b *batcher) take(budget int) []*batchItem {
	n, size := 0, 0
	for n < len(b.queue) && n < maxBatchCalls {
		size += len(b.queue[n].env.Payload) + 64
		if n > 0 && size > budget {
			break
		}
		n++
	}
	items := make([]*batchItem, n)
	copy(items, b.queue)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return items
}

// sendEach sends every item as a plain call, concurrently.
func (p *Pool) sendEach(addr string, items []*batchItem) {
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it.out, it.err = p.roundTrip(it.ctx, addr, it.env)
			close(it.done)
		}()
	}
	wg.Wait()
}

// sendBatch sends items in one envelope (one alone as a plain call) and
// completes them, except when the server does not know BatchMethod: then
// it returns the calls it sent (none of which ran), still to complete.
func (p *Pool) sendBatch(addr string, items []*batchItem) (refused []*batchItem) {
	live := items[:0:0]
	for _, it := range items {
		if err := it.ctx.Err(); err != nil {
			it.err = p.callError(it.ctx, it.env.Method, addr, err) // left before it was sent
			close(it.done)
			continue
		}
		live = append(live, it)
	}
	switch len(live) {
	case 0:
		return nil
	case 1:
		it := live[0]
		it.out, it.err = p.roundTrip(it.ctx, addr, it.env)
		close(it.done)
		return nil
	}
	breq := &pb.RPCBatchRequest{Calls: make([]*pb.RPCRequest, len(live))}
	var last int64 // the latest deadline, or 0 when a call has none
	unbounded := false
	for i, it := range live {
		breq.Calls[i] = it.env
		if d := it.env.DeadlineUnixNano; d == 0 {
			unbounded = true
		} else if d > last {
			last = d
		}
	}
	if unbounded {
		last = 0
	}
	finish := func(err error) []*batchItem {
		for _, it := range live {
			it.err = err
			if err != nil && !errors.As(err, new(*RemoteError)) {
				it.err = p.callError(it.ctx, it.env.Method, addr, err)
			}
			close(it.done)
		}
		return nil
	}
	payload, err := proto.Marshal(breq)
	if err != nil {
		return finish(fmt.Errorf("marshal batch: %w", err))
	}
	// The batch outlives any one caller: it ends at the latest deadline,
	// and watches the session with the first call's ping bounds.
	ctx := WithPingBounds(context.Background(), p.pingBounds(live[0].ctx))
	if last != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, last))
		defer cancel()
	}
	out, err := p.roundTrip(ctx, addr, &pb.RPCRequest{Method: BatchMethod, Payload: payload, DeadlineUnixNano: last})
	if err != nil {
		return finish(err)
	}
	if out.Error != nil {
		rerr := ErrorFromWire(out.Error)
		if errors.Is(rerr, ErrUnknownMethod) {
			return live
		}
		return finish(rerr)
	}
	var bresp pb.RPCBatchResponse
	if err := proto.Unmarshal(out.Payload, &bresp); err != nil {
		return finish(fmt.Errorf("decode batch response: %w", err))
	}
	if len(bresp.Results) != len(live) {
		return finish(fmt.Errorf("batch of %d calls answered with %d results", len(live), len(bresp.Results)))
	}
	for i, it := range live {
		it.out = bresp.Results[i]
		if it.out == nil {
			it.out = &pb.RPCResponse{}
		}
		close(it.done)
	}
	return nil
}

// serveBatch runs the calls of a batch concurrently, each as if it had
// come on its own stream: its own deadline, relay count, authorization
// and error. The batch's context (its caller's session) bounds them all.
func (s *Server) serveBatch(ctx context.Context, payload []byte) (proto.Message, error) {
	var in pb.RPCBatchRequest
	if err := proto.Unmarshal(payload, &in); err != nil {
		return nil, fmt.Errorf("%w: decode batch: %v", ErrBadRequest, err)
	}
	if len(in.Calls) > maxBatchCalls {
		return nil, fmt.Errorf("%w: a batch holds at most %d calls, not %d", ErrBadRequest, maxBatchCalls, len(in.Calls))
	}
	out := &pb.RPCBatchResponse{Results: make([]*pb.RPCResponse, len(in.Calls))}
	ctx = context.WithValue(ctx, batchedKey{}, true)
	var wg sync.WaitGroup
	for i, c := range in.Calls {
		if c.GetMethod() == BatchMethod {
			out.Results[i] = &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: a batch cannot carry a batch", ErrBadRequest))}
			continue
		}
		wg.Add(1)
		s.runCall(func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil { // outside the handler: a bug here must not take the server down
					s.logger.Error("batched call panicked", "method", c.Method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					out.Results[i] = &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: batched %s panicked", ErrInternal, c.Method))}
				}
			}()
			out.Results[i] = s.callEnveloped(ctx, c)
		})
	}
	wg.Wait()
	s.fitBatch(out)
	return out, nil
}

// callWorkerIdle is how long a batched call's goroutine waits for the
// next call before it ends.
const callWorkerIdle = 5 * time.Second

// runCall runs f, a batched call, on an idle call goroutine, or a new one
// that waits for more calls when done, until callWorkerIdle passes or the
// server shuts down. A goroutine started for one call grows its stack from
// 2 KiB to the ~16 KiB that decoding a write and applying it take, copying
// it at each doubling: that was 12% of a leader's CPU under 256 writers
// (the calls come in batches from the followers). The goroutines are few:
// no more than the calls that ever ran at once, within the idle time.
func (s *Server) runCall(f func()) {
	select {
	case s.work <- f:
		return
	default:
	}
	s.wg.Add(1) // Shutdown waits for it
	s.callWorkers.Add(1)
	go s.callWorker(f)
}

func (s *Server) callWorker(f func()) {
	defer s.wg.Done()
	f()
	idle := time.NewTimer(callWorkerIdle)
	defer idle.Stop()
	for {
		select {
		case f := <-s.work:
			f()
			idle.Reset(callWorkerIdle)
		case <-idle.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

type batchedKey struct{}

// Batched reports whether a handler's call came in a batch.
func Batched(ctx context.Context) bool {
	b, _ := ctx.Value(batchedKey{}).(bool)
	return b
}

// callEnveloped runs one request envelope under ctx and returns its
// response envelope.
func (s *Server) callEnveloped(ctx context.Context, req *pb.RPCRequest) *pb.RPCResponse {
	if req.DeadlineUnixNano != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, req.DeadlineUnixNano))
		defer cancel()
	}
	if req.RelayHops > 0 {
		ctx = WithRelayHops(ctx, req.RelayHops)
	}
	ctx, note := WithRelayNote(ctx)
	ctx, after := WithReadAfter(ctx)
	resp, err := s.call(ctx, req.Method, req.Payload)
	out := s.responseEnvelope(req.Method, resp, err, note.Via())
	if out.Error == nil {
		out.ReadAfterNanos = uint64(after.Get())
	}
	return out
}

// responseEnvelope wraps a handler's outcome for the wire.
func (s *Server) responseEnvelope(method string, resp proto.Message, err error, via string) *pb.RPCResponse {
	out := &pb.RPCResponse{Error: ErrorToWire(err), RelayedVia: via}
	if err == nil && resp != nil {
		payload, merr := proto.Marshal(resp)
		if merr != nil {
			s.logger.Error("cannot marshal response", "method", method, "error", merr)
			out.Error = ErrorToWire(fmt.Errorf("%w: marshal %s response: %v", ErrInternal, method, merr))
		} else {
			out.Payload = payload
		}
	}
	return out
}

// fitBatch replaces the largest answers of a batch with ERROR_TOO_LARGE
// until the whole fits the message size limit, as a lone answer over the
// limit is replaced; the others still reach their callers.
func (s *Server) fitBatch(out *pb.RPCBatchResponse) {
	limit := s.cfg.MaxMessageSize - 1024
	for proto.Size(out) > limit {
		big := 0
		for i, r := range out.Results {
			if len(r.Payload) > len(out.Results[big].Payload) {
				big = i
			}
		}
		if len(out.Results[big].Payload) == 0 {
			return // errors alone cannot pass the limit; writeResponse bounds it anyway
		}
		s.logger.Warn("batched response not sent", "size", len(out.Results[big].Payload), "max", limit)
		out.Results[big] = &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: response of %d bytes in a batch over %d", ErrTooLarge, len(out.Results[big].Payload), limit))}
	}
}

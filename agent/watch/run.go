package watch

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"time"
)

// Back-off after failed queries: doubled per failure from minBackoff, at
// most maxBackoff, back to minBackoff after a success.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// HandlerFunc receives a watch's result and the index it was read at. The
// result is the agent's JSON answer as a json.RawMessage, exactly as sent
// (compacted), or nil for a missing key or an empty prefix; for a key watch
// it is the single KV entry, for an event watch the array of the events
// that are new since the previous call.
type HandlerFunc func(index uint64, result any)

// Run queries the agent at addr (host:port or an http(s) URL) for the
// plan's data until ctx is done, and calls handler with the first result
// and then every time the index moves and the result differs from the last
// one handed over (as Consul does). Calls are serialized and in order; when
// results arrive faster than handler returns, the results in between are
// skipped and the next call gets the latest one, so the last state is never
// lost. A failed query is retried after an exponential back-off. Run
// returns nil once ctx is done and the handler call in progress, if any,
// has returned; it returns an error at once only for a bad address or a nil
// handler.
func (p *Plan) Run(ctx context.Context, addr string, handler HandlerFunc) error {
	if handler == nil {
		return errors.New("watch: nil handler")
	}
	base, err := ParseAddr(addr)
	if err != nil {
		return err
	}
	q := newQuerier(p, base)
	defer q.close()

	ctx, cancel := context.WithCancel(ctx)
	box := newMailbox()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		box.deliver(ctx, p.present, handler)
	}()
	p.loop(ctx, q, box)
	cancel()
	wg.Wait()
	return nil
}

// loop runs the blocking queries and posts every change to box.
func (p *Plan) loop(ctx context.Context, q *querier, box *mailbox) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sleep := p.sleep
	if sleep == nil {
		sleep = sleepTimer
	}
	var (
		index      uint64 // the index of the next query; 0 reads at once
		lastResult any
		started    bool
		failures   int
	)
	for ctx.Err() == nil {
		idx, result, err := q.fetch(ctx, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			delay := backoff(failures)
			log.Warn("watch query failed", "type", p.Type, "error", err, "retry_in", delay)
			if !sleep(ctx.Done(), delay) {
				return
			}
			continue
		}
		failures = 0
		idx = max(idx, 1) // an index below 1 is treated as 1
		if started && idx == index {
			continue // the wait ran out with nothing new
		}
		prev := index
		index = idx
		if started && idx < prev && p.Type != TypeEvent {
			// The index went backwards (snapshot restore, reaped
			// tombstones): read at once next time and block from there.
			// Event indexes are opaque hashes, not ordered.
			index = 0
		}
		if started && reflect.DeepEqual(result, lastResult) {
			continue
		}
		started = true
		lastResult = result
		box.post(update{index: idx, result: result})
	}
}

// backoff is the wait after the n-th failure in a row (n >= 1).
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// sleepTimer waits d or until done closes; it reports whether d elapsed.
func sleepTimer(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// present turns a posted result into what the handler gets, given the
// index of the previous call (0 before the first one): event watches get
// only the events after the one the previous call ended with.
func (p *Plan) present(prevIndex uint64, result any) any {
	if p.Type != TypeEvent {
		return result
	}
	return eventsAfter(result, prevIndex)
}

type update struct {
	index  uint64
	result any
}

// mailbox holds the latest update not yet handed to the handler. Posting
// replaces it, so a slow handler sees the newest state next.
type mailbox struct {
	mu      sync.Mutex
	pending *update
	ready   chan struct{} // one token while pending is set
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (m *mailbox) post(u update) {
	m.mu.Lock()
	m.pending = &u
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() (update, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		return update{}, false
	}
	u := *m.pending
	m.pending = nil
	return u, true
}

// deliver calls handler with each update taken from the mailbox, one at a
// time, until ctx is done.
func (m *mailbox) deliver(ctx context.Context, present func(uint64, any) any, handler HandlerFunc) {
	var prevIndex uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.ready:
		}
		if ctx.Err() != nil {
			return
		}
		u, ok := m.take()
		if !ok {
			continue
		}
		handler(u.index, present(prevIndex, u.result))
		prevIndex = u.index
	}
}

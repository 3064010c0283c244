package dc

import (
	"context"
	"sync"
)

// inflight counts the writes this server is forwarding to the leader, so
// a graceful shutdown can let them finish instead of cutting them off (a
// write cut off mid-forward fails on its caller with an outcome it cannot
// tell). See DrainWrites.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil while n is 0
}

func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.zero)
		f.zero = nil
	}
}

// wait returns once nothing is in flight, or ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	ch := f.zero
	f.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DrainWrites waits, bounded by ctx, until the writes this server is
// forwarding to the leader have their answers. A graceful shutdown calls
// it after the server stopped taking HTTP requests and before Raft and
// RPC stop, so a server restarted in a rolling upgrade does not fail the
// writes other servers or agents sent through it.
func (s *Server) DrainWrites(ctx context.Context) error {
	return s.forwarding.wait(ctx)
}

package rpc

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// ReadAfter receives, for the calls made with its context, how long after
// a call reached the server that answered it the answer's data was read at
// the least (pb.RPCResponse.read_after_nanos): a handler notes it with
// NoteReadAfter, the Server sends it in its response envelope, and
// Pool.Call notes what the envelope says, so it travels back along a chain
// of forwards (each hop reached later than the one before).
type ReadAfter struct{ nanos atomic.Int64 }

type readAfterKey struct{}

// WithReadAfter returns a context whose calls note their read-after
// duration in the returned ReadAfter.
func WithReadAfter(ctx context.Context) (context.Context, *ReadAfter) {
	r := &ReadAfter{}
	return context.WithValue(ctx, readAfterKey{}, r), r
}

// NoteReadAfter records d for the call of ctx; without a ReadAfter in ctx,
// or for d <= 0, it does nothing.
func NoteReadAfter(ctx context.Context, d time.Duration) {
	if r, ok := ctx.Value(readAfterKey{}).(*ReadAfter); ok && d > 0 {
		r.nanos.Store(int64(d))
	}
}

// Get is the duration noted last, 0 if none.
func (r *ReadAfter) Get() time.Duration {
	if r == nil {
		return 0
	}
	return time.Duration(r.nanos.Load())
}

// readAfterFromWire is the envelope's read_after_nanos as a duration.
func readAfterFromWire(n uint64) time.Duration {
	return time.Duration(min(n, math.MaxInt64))
}

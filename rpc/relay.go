package rpc

import (
	"context"
	"sync"
)

// relayHopsKey carries the relay hop count of a call in its context.
type relayHopsKey struct{}

// relayNoteKey carries the *RelayNote of a call in its context.
type relayNoteKey struct{}

// WithRelayHops returns ctx marked as a call relayed through hops
// datacenters. Pool.Call sends the count in the request envelope and the
// Server hands it to the handler's context, so it follows a request from
// server to server.
func WithRelayHops(ctx context.Context, hops uint32) context.Context {
	return context.WithValue(ctx, relayHopsKey{}, hops)
}

// RelayHops returns the relay hop count of ctx (0 for a direct call).
func RelayHops(ctx context.Context) uint32 {
	h, _ := ctx.Value(relayHopsKey{}).(uint32)
	return h
}

// RelayNote records which datacenter, if any, a call was relayed through.
// The caller creates one with WithRelayNote; forwarding code notes the
// relay with NoteRelay; Pool.Call notes what a remote server reported in
// its response envelope, and the Server reports what its handler noted,
// so the note travels back along the whole path.
type RelayNote struct {
	mu  sync.Mutex
	via string
}

// WithRelayNote returns a context whose calls record their relay in the
// returned note.
func WithRelayNote(ctx context.Context) (context.Context, *RelayNote) {
	n := &RelayNote{}
	return context.WithValue(ctx, relayNoteKey{}, n), n
}

// NoteRelay records that the call of ctx was relayed through datacenter
// dc; without a note in ctx it does nothing.
func NoteRelay(ctx context.Context, dc string) {
	if n, ok := ctx.Value(relayNoteKey{}).(*RelayNote); ok && dc != "" {
		n.mu.Lock()
		n.via = dc
		n.mu.Unlock()
	}
}

// Via returns the datacenter noted, or "".
func (n *RelayNote) Via() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.via
}

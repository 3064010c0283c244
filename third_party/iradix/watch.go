package iradix

import "sync/atomic"

// Meridian: a node's (and a leaf's) mutation channel is made when someone
// first asks for it, not with the node. Upstream every node and every leaf
// carries a channel from birth (96 bytes each, two or three per key), and
// almost none is ever watched: a store of 10,000 services and their checks
// held ~9 MiB of channels nobody waited on.
//
// A Watcher is the channel's slot. Ch makes the channel on first use;
// notify (at commit, for every node and leaf the transaction replaced)
// closes it if it was made and leaves the slot holding a closed channel,
// so a watcher that asks for it after the node was replaced is woken at
// once. The two race only as upstream's channels do: a watcher that got
// the channel before notify is woken by the close, one that asks after
// gets the closed channel.
type Watcher struct {
	ch atomic.Pointer[chan struct{}]
}

// closedCh is the channel of every replaced node.
var closedCh = func() *chan struct{} {
	c := make(chan struct{})
	close(c)
	return &c
}()

// Ch returns the channel that is closed when the node or leaf is
// replaced (modified or deleted) by a later committed transaction.
func (w *Watcher) Ch() <-chan struct{} {
	if p := w.ch.Load(); p != nil {
		return *p
	}
	c := make(chan struct{})
	if w.ch.CompareAndSwap(nil, &c) {
		return c
	}
	return *w.ch.Load()
}

// notify closes the channel if one was made; later Ch calls return a
// closed channel. It may be called more than once.
func (w *Watcher) notify() {
	if p := w.ch.Swap(closedCh); p != nil && p != closedCh {
		close(*p)
	}
}

// made reports whether the channel was asked for (tests).
func (w *Watcher) made() bool {
	return w.ch.Load() != nil
}

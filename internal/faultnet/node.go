package faultnet

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// Node is one member of a Network: the side from which its dials and
// packets are judged. Get one from Network.AddNode.
type Node struct {
	name  string
	nw    *Network
	stats counters
}

// Stats counts the faults a node (or a whole Network) has suffered.
type Stats struct {
	// DialsRefused counts dials that failed because a link was cut.
	DialsRefused uint64
	// WritesStalled and ReadsStalled count stream writes and reads that
	// had to wait for a cut link (each call once).
	WritesStalled uint64
	ReadsStalled  uint64
	// StallTimeouts counts stalled reads and writes that ended with their
	// deadline while the link was still cut.
	StallTimeouts uint64
	// PacketsDroppedOut counts UDP packets dropped when sent over a cut
	// link; PacketsDroppedIn counts packets received from a node whose
	// link to this one is cut (sent before the cut, or by an unwrapped
	// sender).
	PacketsDroppedOut uint64
	PacketsDroppedIn  uint64
}

func (s Stats) add(o Stats) Stats {
	s.DialsRefused += o.DialsRefused
	s.WritesStalled += o.WritesStalled
	s.ReadsStalled += o.ReadsStalled
	s.StallTimeouts += o.StallTimeouts
	s.PacketsDroppedOut += o.PacketsDroppedOut
	s.PacketsDroppedIn += o.PacketsDroppedIn
	return s
}

// counters are a node's Stats, updated atomically.
type counters struct {
	dialsRefused, writesStalled, readsStalled, stallTimeouts atomic.Uint64
	packetsDroppedOut, packetsDroppedIn                      atomic.Uint64
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Stats returns the node's counters. Faults are counted by the node whose
// wrapper saw them: the dialer for dials and streams, the sender for
// dropped outgoing packets, the receiver for dropped incoming ones.
func (n *Node) Stats() Stats {
	c := &n.stats
	return Stats{
		DialsRefused:      c.dialsRefused.Load(),
		WritesStalled:     c.writesStalled.Load(),
		ReadsStalled:      c.readsStalled.Load(),
		StallTimeouts:     c.stallTimeouts.Load(),
		PacketsDroppedOut: c.packetsDroppedOut.Load(),
		PacketsDroppedIn:  c.packetsDroppedIn.Load(),
	}
}

// Dial opens a TCP connection from this node to addr; it has the shape of
// rpc.PoolConfig.Dial and rpc.WithRaftDial. If addr belongs to another
// node, a handshake needs both directions: while either is cut the dial
// waits for a Heal and fails with an error wrapping ErrPartitioned after
// the Network's dial timeout or when ctx ends, whichever is first. The
// connection returned then obeys the links as they change (see the
// package's conn semantics: writes wait while this → remote is cut, reads
// wait while remote → this is cut, no byte is lost). An address no other
// node owns is dialed plainly.
func (n *Node) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return n.dial(ctx, addr, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// dial runs connect under the link rules toward addr's owner and wraps
// the connection it returns.
func (n *Node) dial(ctx context.Context, addr string, connect func(context.Context) (net.Conn, error)) (net.Conn, error) {
	remote, ok := n.nw.owner(addr)
	if !ok || remote == n.name {
		return connect(ctx)
	}
	if err := n.awaitDial(ctx, addr, remote); err != nil {
		n.stats.dialsRefused.Add(1)
		return nil, err
	}
	if d := n.nw.roundTrip(n.name, remote); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("faultnet: dial %s (%s) from %s: %w", addr, remote, n.name, ctx.Err())
		}
	}
	c, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	return newConn(c, n, remote), nil
}

// awaitDial waits until both directions between n and remote pass, for at
// most the dial timeout or until ctx ends.
func (n *Node) awaitDial(ctx context.Context, addr, remote string) error {
	var timeout <-chan time.Time
	for {
		up, changed := n.nw.bothWays(n.name, remote)
		if up {
			return nil
		}
		if timeout == nil {
			t := time.NewTimer(n.nw.dialTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
			return fmt.Errorf("faultnet: dial %s (%s) from %s: %w", addr, remote, n.name, ErrPartitioned)
		case <-ctx.Done():
			return fmt.Errorf("faultnet: dial %s (%s) from %s: %w: %w", addr, remote, n.name, ErrPartitioned, ctx.Err())
		}
	}
}

package faultnet

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport is a memberlist transport whose traffic obeys a node's links:
//
//   - WriteTo and WriteToAddress silently drop a packet to a node whose
//     link from this one is cut (UDP semantics) and delay it by the link's
//     delay;
//   - packets on PacketCh from a node whose link to this one is cut are
//     dropped (packets are attributed by their source address, the
//     sender's gossip bind address, which must be registered with AddNode);
//   - DialTimeout and DialAddressTimeout behave as Node.Dial: they fail
//     with ErrPartitioned across a cut link and return connections that
//     stall, never corrupt, while a link is cut;
//   - StreamCh passes through, since a stream is governed by its dialer.
//
// Shutdown stops the Transport's goroutines and shuts down the inner one.
type Transport struct {
	inner memberlist.NodeAwareTransport
	node  *Node
	addr  string // set by NetTransport

	packets   chan *memberlist.Packet
	startOnce sync.Once
	closing   chan struct{} // closed by Shutdown: drain, deliver nothing
	stop      chan struct{} // closed once the inner transport is down
	wg        sync.WaitGroup

	mu       sync.Mutex
	shutdown bool
	timers   map[*time.Timer]struct{} // delayed packets not yet sent
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Transport wraps inner, a transport of this node, so that its traffic
// obeys the node's links. Register inner's gossip address with AddNode so
// that other nodes' wrappers know its packets. Memberlist's own transport
// wrapped for 127.0.0.1 is built by NetTransport.
func (n *Node) Transport(inner memberlist.NodeAwareTransport) *Transport {
	return &Transport{
		inner:   inner,
		node:    n,
		packets: make(chan *memberlist.Packet),
		closing: make(chan struct{}),
		stop:    make(chan struct{}),
		timers:  make(map[*time.Timer]struct{}),
	}
}

// NetTransport builds memberlist.NewNetTransport(cfg) (listening at once,
// on a free port if cfg.BindPort is 0), registers each bind address with
// the chosen port as this node's (an unspecified address such as 0.0.0.0
// registers as 127.0.0.1), and wraps it. A nil cfg.Logger discards logs.
// The returned Transport's Addr gives the bound address for the node's
// memberlist.Config (BindAddr, BindPort, AdvertisePort).
func (n *Node) NetTransport(cfg memberlist.NetTransportConfig) (*Transport, error) {
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	cfg.BindAddrs = append([]string(nil), cfg.BindAddrs...)
	inner, err := memberlist.NewNetTransport(&cfg)
	if err != nil {
		return nil, fmt.Errorf("faultnet: node %s: %w", n.name, err)
	}
	port := strconv.Itoa(inner.GetAutoBindPort())
	addrs := make([]string, 0, len(cfg.BindAddrs))
	for _, a := range cfg.BindAddrs {
		if ip := net.ParseIP(a); ip != nil && ip.IsUnspecified() {
			a = "127.0.0.1"
		}
		addrs = append(addrs, net.JoinHostPort(a, port))
	}
	n.nw.AddNode(n.name, addrs...)
	t := n.Transport(inner)
	t.addr = addrs[0]
	return t, nil
}

// Inner returns the wrapped transport.
func (t *Transport) Inner() memberlist.NodeAwareTransport { return t.inner }

// Addr returns the gossip address ("ip:port") registered for the node by
// NetTransport, or "" for a Transport built by Node.Transport.
func (t *Transport) Addr() string { return t.addr }

// FinalAdvertiseAddr is the inner transport's.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo sends a packet to addr unless the link to its owner is cut.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet to a.Addr unless the link to its owner is
// cut, in which case it is dropped and reported as sent.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	remote, ok := t.node.nw.owner(a.Addr)
	if !ok || remote == t.node.name {
		return t.inner.WriteToAddress(b, a)
	}
	if !t.node.nw.Linked(t.node.name, remote) {
		t.node.stats.packetsDroppedOut.Add(1)
		return time.Now(), nil
	}
	d := t.node.nw.linkDelay(t.node.name, remote)
	if d <= 0 {
		return t.inner.WriteToAddress(b, a)
	}
	t.sendLater(d, append([]byte(nil), b...), a)
	return time.Now(), nil
}

// sendLater sends a packet after d from a timer owned by the Transport.
func (t *Transport) sendLater(d time.Duration, b []byte, a memberlist.Address) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutdown {
		return
	}
	var timer *time.Timer
	t.wg.Add(1)
	timer = time.AfterFunc(d, func() {
		defer t.wg.Done()
		t.mu.Lock()
		delete(t.timers, timer)
		down := t.shutdown
		t.mu.Unlock()
		if !down {
			_, _ = t.inner.WriteToAddress(b, a) // an error loses it, as UDP would
		}
	})
	t.timers[timer] = struct{}{}
}

// PacketCh returns the packets received over links that pass. The first
// call starts the goroutine that filters the inner transport's packets;
// Shutdown stops it.
func (t *Transport) PacketCh() <-chan *memberlist.Packet {
	t.startOnce.Do(t.start)
	return t.packets
}

func (t *Transport) start() {
	t.wg.Add(1)
	go t.filterPackets()
}

// filterPackets forwards the inner transport's packets that pass, and
// after Shutdown began drains them so that the inner transport can stop.
func (t *Transport) filterPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			if !t.accept(p) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.closing:
			}
		case <-t.stop:
			return
		}
	}
}

// accept reports whether p's link to this node passes, counting a drop.
func (t *Transport) accept(p *memberlist.Packet) bool {
	select {
	case <-t.closing:
		return false
	default:
	}
	if p.From == nil {
		return true
	}
	remote, ok := t.node.nw.owner(p.From.String())
	if !ok || remote == t.node.name || t.node.nw.Linked(remote, t.node.name) {
		return true
	}
	t.node.stats.packetsDroppedIn.Add(1)
	return false
}

// DialTimeout dials addr as DialAddressTimeout does.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout dials a.Addr through the inner transport under the
// link rules of Node.Dial, within timeout.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return t.node.dial(ctx, a.Addr, func(ctx context.Context) (net.Conn, error) {
		left := timeout
		if dl, ok := ctx.Deadline(); ok {
			if left = time.Until(dl); left <= 0 {
				return nil, fmt.Errorf("faultnet: dial %s: %w", a.Addr, context.DeadlineExceeded)
			}
		}
		return t.inner.DialAddressTimeout(a, left)
	})
}

// StreamCh is the inner transport's.
func (t *Transport) StreamCh() <-chan net.Conn { return t.inner.StreamCh() }

// Shutdown cancels delayed packets, shuts down the inner transport (its
// packets drained meanwhile), and stops the Transport's goroutines.
func (t *Transport) Shutdown() error {
	t.mu.Lock()
	if t.shutdown {
		t.mu.Unlock()
		return nil
	}
	t.shutdown = true
	for timer := range t.timers {
		if timer.Stop() {
			t.wg.Done()
		}
	}
	clear(t.timers)
	t.mu.Unlock()

	t.startOnce.Do(t.start) // drain even if memberlist never asked
	close(t.closing)
	err := t.inner.Shutdown()
	close(t.stop)
	t.wg.Wait()
	return err
}

package memnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrUnreachable is returned by a dial to an address that nothing listens
// on, or across a cut link.
var ErrUnreachable = errors.New("memnet: unreachable")

// Network is a set of addresses and the links between them. Every pair of
// addresses is linked until Disconnect or Partition cuts it.
type Network struct {
	mu        sync.Mutex
	listeners map[string]*Listener
	cut       map[link]bool
	stalled   map[route]bool
	conns     map[link]map[*conn]struct{}
}

// route is a directed pair of addresses.
type route struct{ from, to string }

// link is an unordered pair of addresses.
type link struct{ a, b string }

func linkOf(a, b string) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// New returns an empty network.
func New() *Network {
	return &Network{listeners: map[string]*Listener{}, cut: map[link]bool{}, stalled: map[route]bool{}, conns: map[link]map[*conn]struct{}{}}
}

// Listen listens on addr, which must not be in use.
func (n *Network) Listen(addr string) (*Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, used := n.listeners[addr]; used {
		return nil, fmt.Errorf("memnet: listen %s: address in use", addr)
	}
	l := &Listener{n: n, addr: Addr(addr), accept: make(chan net.Conn), closed: make(chan struct{})}
	n.listeners[addr] = l
	return l, nil
}

// Dialer returns the dial function of the node at from (its listening
// address, or any name for a node that only dials), in the shape rpc's
// Pool and Mux take.
func (n *Network) Dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) { return n.dial(ctx, from, addr) }
}

func (n *Network) dial(ctx context.Context, from, to string) (net.Conn, error) {
	n.mu.Lock()
	l, ok := n.listeners[to]
	if !ok || n.cut[linkOf(from, to)] {
		n.mu.Unlock()
		return nil, fmt.Errorf("dial %s from %s: %w", to, from, ErrUnreachable)
	}
	p1, p2 := net.Pipe()
	lk := linkOf(from, to)
	client := &conn{Conn: p1, n: n, link: lk, local: Addr(from), remote: Addr(to)}
	server := &conn{Conn: p2, n: n, link: lk, local: Addr(to), remote: Addr(from)}
	n.trackLocked(client)
	n.trackLocked(server)
	n.mu.Unlock()
	select {
	case l.accept <- server:
		return client, nil
	case <-l.closed:
		err := fmt.Errorf("dial %s from %s: %w", to, from, ErrUnreachable)
		client.Close()
		server.Close()
		return nil, err
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

func (n *Network) trackLocked(c *conn) {
	set := n.conns[c.link]
	if set == nil {
		set = map[*conn]struct{}{}
		n.conns[c.link] = set
	}
	set[c] = struct{}{}
}

func (n *Network) untrack(c *conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns[c.link], c)
}

// Disconnect cuts the link between a and b (both ways) and closes the
// connections on it.
func (n *Network) Disconnect(a, b string) {
	n.mu.Lock()
	lk := linkOf(a, b)
	n.cut[lk] = true
	var open []*conn
	for c := range n.conns[lk] {
		open = append(open, c)
	}
	n.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// CloseConns closes every open connection with an end at addr, without
// cutting any link: what the exit of a process does to its connections
// (its peers read EOF), where closing a listener leaves them open.
func (n *Network) CloseConns(addr string) {
	n.mu.Lock()
	var open []*conn
	for lk, set := range n.conns {
		if lk.a != addr && lk.b != addr {
			continue
		}
		for c := range set {
			open = append(open, c)
		}
	}
	n.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// Connect restores the link between a and b.
func (n *Network) Connect(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, linkOf(a, b))
}

// DisconnectAll cuts every link of addr to the listening addresses.
func (n *Network) DisconnectAll(addr string) {
	for _, other := range n.addrs() {
		if other != addr {
			n.Disconnect(addr, other)
		}
	}
}

// Stall makes the link from → to swallow what from writes, on open
// connections and new ones, without closing anything or refusing dials:
// what a stopped process or a route gone dark looks like to its peer
// (writes succeed, nothing comes back). Stall both ways for a stalled
// node; one way for a one-way cut.
func (n *Network) Stall(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stalled[route{from, to}] = true
}

// Unstall lets the link from → to deliver again; what was swallowed is
// lost.
func (n *Network) Unstall(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.stalled, route{from, to})
}

func (n *Network) isStalled(from, to Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stalled[route{string(from), string(to)}]
}

// ConnectAll restores every link.
func (n *Network) ConnectAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[link]bool{}
}

// Partition cuts every link between group and the other listening
// addresses; links inside group and inside the rest are left as they are.
func (n *Network) Partition(group ...string) {
	in := map[string]bool{}
	for _, g := range group {
		in[g] = true
	}
	for _, g := range group {
		for _, other := range n.addrs() {
			if !in[other] {
				n.Disconnect(g, other)
			}
		}
	}
}

func (n *Network) addrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.listeners))
	for a := range n.listeners {
		out = append(out, a)
	}
	return out
}

// Listener is a net.Listener on a Network.
type Listener struct {
	n         *Network
	addr      Addr
	accept    chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

// Accept waits for the next connection; after Close it returns an error
// wrapping net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("memnet: accept on %s: %w", l.addr, net.ErrClosed)
	}
}

// Close stops accepting and frees the address; connections already made
// stay open.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.n.mu.Lock()
		if l.n.listeners[string(l.addr)] == l {
			delete(l.n.listeners, string(l.addr))
		}
		l.n.mu.Unlock()
	})
	return nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.addr }

// conn is one end of a pipe, with the addresses of its ends.
type conn struct {
	net.Conn
	n             *Network
	link          link
	local, remote Addr
	closeOnce     sync.Once
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Write swallows b while the link toward the remote end is stalled.
func (c *conn) Write(b []byte) (int, error) {
	if c.n.isStalled(c.local, c.remote) {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.n.untrack(c)
	})
	return err
}

// Addr is a Network address.
type Addr string

// Network is "memnet".
func (Addr) Network() string { return "memnet" }

func (a Addr) String() string { return string(a) }

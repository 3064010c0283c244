package faultnet

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// ErrPartitioned is wrapped by the errors of dials across a cut link and of
// stream reads and writes whose deadline passed while their link was cut.
var ErrPartitioned = errors.New("faultnet: link partitioned")

// DefaultDialTimeout is how long a dial across a cut link waits (for a
// Heal) before it fails, unless its context ends first.
const DefaultDialTimeout = 500 * time.Millisecond

// Config tunes a Network.
type Config struct {
	// DialTimeout bounds how long a dial across a cut link waits before it
	// fails with ErrPartitioned, like a SYN lost in a black hole. Zero or
	// less means DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives a line per change of the links; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with DefaultDialTimeout and no logging.
func DefaultConfig() Config {
	return Config{DialTimeout: DefaultDialTimeout}
}

// link is a directed link between two nodes.
type link struct{ from, to string }

// Network is a set of named nodes and the state of the directed links
// between them. Every method is safe for concurrent use, and every change
// takes effect at once, also on connections already open. Links start
// whole and without delay; a node's link to itself is never cut.
type Network struct {
	dialTimeout time.Duration
	logger      *slog.Logger

	mu      sync.Mutex
	nodes   map[string]*Node
	owners  map[string]string // normalized address -> node name
	cut     map[link]bool
	delay   map[link]time.Duration
	changed chan struct{} // closed and replaced on every change
}

// New returns a Network with DefaultConfig and no nodes.
func New() *Network {
	return NewWithConfig(DefaultConfig())
}

// NewWithConfig returns a Network tuned by cfg and with no nodes.
func NewWithConfig(cfg Config) *Network {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Network{
		dialTimeout: cfg.DialTimeout,
		logger:      logger.With("component", "faultnet"),
		nodes:       make(map[string]*Node),
		owners:      make(map[string]string),
		cut:         make(map[link]bool),
		delay:       make(map[link]time.Duration),
		changed:     make(chan struct{}),
	}
}

// AddNode registers the node name, creating it on first use, as the owner
// of addrs ("ip:port"; a host name is matched literally, not resolved).
// Traffic to those addresses, and UDP packets from them, belong to the
// node: register each agent's server (RPC and Raft) address and its gossip
// address. An address already owned by another node moves to this one
// (ports are reused after a node stops). Calling AddNode again adds
// addresses.
func (nw *Network) AddNode(name string, addrs ...string) *Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	n := nw.nodes[name]
	if n == nil {
		n = &Node{name: name, nw: nw}
		nw.nodes[name] = n
	}
	for _, a := range addrs {
		nw.owners[normalizeAddr(a)] = name
	}
	return n
}

// Node returns the node registered as name, or nil if there is none.
func (nw *Network) Node(name string) *Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.nodes[name]
}

// Cut loses the traffic from one node to another (one way): packets are
// dropped, stream bytes from → to wait, and dials between them fail.
func (nw *Network) Cut(from, to string) {
	nw.update("cut", func() { nw.setCut(from, to, true) }, "from", from, "to", to)
}

// CutBoth cuts the links a → b and b → a.
func (nw *Network) CutBoth(a, b string) {
	nw.update("cut both ways", func() {
		nw.setCut(a, b, true)
		nw.setCut(b, a, true)
	}, "a", a, "b", b)
}

// Isolate cuts every link into and out of name, to and from the nodes
// registered so far.
func (nw *Network) Isolate(name string) {
	nw.update("isolate", func() {
		for other := range nw.nodes {
			nw.setCut(name, other, true)
			nw.setCut(other, name, true)
		}
	}, "node", name)
}

// Partition cuts both ways every link between a node of groupA and a node
// of groupB. Links within a group are left as they are.
func (nw *Network) Partition(groupA, groupB []string) {
	nw.update("partition", func() {
		for _, a := range groupA {
			for _, b := range groupB {
				nw.setCut(a, b, true)
				nw.setCut(b, a, true)
			}
		}
	}, "a", groupA, "b", groupB)
}

// CutGroups cuts one way every link from a node of from to a node of to,
// as a WAN link between two datacenters' server sets that loses the
// traffic of one direction: dials between them fail (a handshake needs
// both ways), packets from → to are dropped, and streams stall in that
// direction. Links within a group are left as they are.
func (nw *Network) CutGroups(from, to []string) {
	nw.update("cut groups", func() {
		for _, a := range from {
			for _, b := range to {
				nw.setCut(a, b, true)
			}
		}
	}, "from", from, "to", to)
}

// HealPartition restores both ways every link between a node of groupA and
// a node of groupB, undoing Partition (or CutGroups either way) while any
// other cut stays.
func (nw *Network) HealPartition(groupA, groupB []string) {
	nw.update("heal partition", func() {
		for _, a := range groupA {
			for _, b := range groupB {
				nw.setCut(a, b, false)
				nw.setCut(b, a, false)
			}
		}
	}, "a", groupA, "b", groupB)
}

// Heal restores the link from → to (one way).
func (nw *Network) Heal(from, to string) {
	nw.update("heal", func() { nw.setCut(from, to, false) }, "from", from, "to", to)
}

// HealAll restores every link. Delays are kept.
func (nw *Network) HealAll() {
	nw.update("heal all", func() { clear(nw.cut) })
}

// Linked reports whether traffic from → to currently passes.
func (nw *Network) Linked(from, to string) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return !nw.cut[link{from, to}]
}

// SetDelay adds latency d to the link from → to; zero removes it. UDP
// packets are delivered d after they are sent. On a stream, the dialer's
// writes are delivered after the round trip delay(dialer → acceptor) +
// delay(acceptor → dialer) and the acceptor's writes are not delayed, so a
// request and its answer take the round trip; a dial takes the round trip
// too. A delay applies to what is sent after the change.
func (nw *Network) SetDelay(from, to string, d time.Duration) {
	nw.update("delay", func() {
		if d <= 0 {
			delete(nw.delay, link{from, to})
		} else {
			nw.delay[link{from, to}] = d
		}
	}, "from", from, "to", to, "delay", d)
}

// Stats returns the sums of every node's counters.
func (nw *Network) Stats() Stats {
	nw.mu.Lock()
	nodes := make([]*Node, 0, len(nw.nodes))
	for _, n := range nw.nodes {
		nodes = append(nodes, n)
	}
	nw.mu.Unlock()
	var s Stats
	for _, n := range nodes {
		s = s.add(n.Stats())
	}
	return s
}

// Nodes returns the names of the registered nodes, sorted.
func (nw *Network) Nodes() []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	names := make([]string, 0, len(nw.nodes))
	for name := range nw.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// update applies change under the lock, wakes every waiter, and logs.
func (nw *Network) update(what string, change func(), attrs ...any) {
	nw.mu.Lock()
	change()
	close(nw.changed)
	nw.changed = make(chan struct{})
	nw.mu.Unlock()
	nw.logger.Info("faultnet: "+what, attrs...)
}

// setCut records a link's state; nw.mu is held.
func (nw *Network) setCut(from, to string, cut bool) {
	if from == to {
		return
	}
	if cut {
		nw.cut[link{from, to}] = true
	} else {
		delete(nw.cut, link{from, to})
	}
}

// linkState reports whether from → to passes, with a channel closed at the
// next change of any link (read together, so no change is missed).
func (nw *Network) linkState(from, to string) (up bool, changed <-chan struct{}) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return !nw.cut[link{from, to}], nw.changed
}

// bothWays reports whether a → b and b → a both pass, with the channel of
// the next change.
func (nw *Network) bothWays(a, b string) (up bool, changed <-chan struct{}) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return !nw.cut[link{a, b}] && !nw.cut[link{b, a}], nw.changed
}

// linkDelay returns the latency of from → to.
func (nw *Network) linkDelay(from, to string) time.Duration {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.delay[link{from, to}]
}

// roundTrip returns the latency of a → b plus that of b → a.
func (nw *Network) roundTrip(a, b string) time.Duration {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.delay[link{a, b}] + nw.delay[link{b, a}]
}

// owner returns the node owning addr.
func (nw *Network) owner(addr string) (string, bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	name, ok := nw.owners[normalizeAddr(addr)]
	return name, ok
}

// normalizeAddr writes "ip:port" canonically so that textual variants of
// one address (IPv4-mapped IPv6, leading zeros) match.
func normalizeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, port)
}

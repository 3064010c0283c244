package wan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// Router errors. ServersFor wraps them with the datacenter's name.
var (
	// ErrNoPathToDC: no server of the datacenter is known in the WAN pool
	// (never seen, or every one left or was reaped). Consul answers
	// "No path to datacenter".
	ErrNoPathToDC = errors.New("no path to datacenter")
	// ErrNoServers: the datacenter is known but none of its servers can be
	// tried now (all failed in gossip or marked failed after RPC errors).
	ErrNoServers = errors.New("no alive server in datacenter")
	// ErrUnknownServer: the named server is not in the router.
	ErrUnknownServer = errors.New("unknown WAN server")
	// ErrBadCoordinate: a nil or invalid (NaN, infinite) coordinate.
	ErrBadCoordinate = errors.New("bad coordinate")
)

// DefaultFailureHoldTicks is how many Ticks a MarkFailed lasts when
// RouterConfig leaves it zero.
const DefaultFailureHoldTicks = 10

// RouterConfig configures a Router.
type RouterConfig struct {
	// Datacenter is the local datacenter, always listed first.
	Datacenter string
	// LocalName is this server's WAN member name ("node.dc"); its
	// coordinate is the origin of every RTT.
	LocalName string
	// FailureHoldTicks is how many Ticks a server marked by MarkFailed
	// stays out of routing; 0 means DefaultFailureHoldTicks.
	FailureHoldTicks int
}

// Router maps datacenter names to their servers, nearest first. It is a
// pure state machine: it starts no goroutine, reads no clock and does no
// I/O. Membership arrives through Observe, coordinates through
// UpdateCoordinate, time through Tick (a logical clock), RPC outcomes
// through MarkFailed and MarkHealthy. Its methods are safe for concurrent
// use.
//
// A server is routable while gossip says it is alive and no RPC failure
// mark holds. A datacenter stays known (listed by Datacenters, ServersFor
// answering ErrNoServers) while any of its servers is alive or failed, as
// Consul keeps it; it is forgotten (ErrNoPathToDC) once every server left or
// was reaped.
type Router struct {
	mu        sync.RWMutex
	dc        string
	localName string
	hold      uint64
	now       uint64
	local     *coordinate.Coordinate
	servers   map[string]*routeEntry // by member name
}

// routeEntry is the router's view of one server.
type routeEntry struct {
	srv         Server
	alive       bool
	coord       *coordinate.Coordinate
	markedUntil uint64 // tick until which an RPC failure mark holds
}

// NewRouter returns an empty router.
func NewRouter(cfg RouterConfig) *Router {
	hold := cfg.FailureHoldTicks
	if hold <= 0 {
		hold = DefaultFailureHoldTicks
	}
	return &Router{
		dc:        cfg.Datacenter,
		localName: cfg.LocalName,
		hold:      uint64(hold),
		servers:   make(map[string]*routeEntry),
	}
}

// Observe applies a membership event. Members that are not WAN servers are
// skipped (and forgotten if they were known); the error lists them, joined,
// while every valid member of the event is still applied.
func (r *Router) Observe(ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, m := range ev.Members {
		switch ev.Kind {
		case EventJoin, EventUpdate:
			srv, err := ServerFromMember(m)
			if err != nil {
				delete(r.servers, m.Name)
				errs = append(errs, err)
				continue
			}
			e := r.entry(srv)
			e.alive = m.Status == StatusAlive
			e.markedUntil = 0
		case EventFailed:
			if e, ok := r.servers[m.Name]; ok {
				e.alive, e.markedUntil = false, 0
				continue
			}
			// First news of this server is its failure: its datacenter is
			// known all the same.
			srv, err := ServerFromMember(m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r.entry(srv).alive = false
		case EventLeave, EventReap:
			delete(r.servers, m.Name)
		default:
			errs = append(errs, fmt.Errorf("unknown event kind %d", ev.Kind))
		}
	}
	return errors.Join(errs...)
}

// entry returns the entry of srv, created or updated with srv's details
// (its coordinate is kept).
func (r *Router) entry(srv Server) *routeEntry {
	e, ok := r.servers[srv.Name]
	if !ok {
		e = &routeEntry{}
		r.servers[srv.Name] = e
	}
	e.srv = srv
	return e
}

// UpdateCoordinate records the WAN coordinate of a known server, or of this
// server when name is RouterConfig.LocalName.
func (r *Router) UpdateCoordinate(name string, c *coordinate.Coordinate) error {
	if c == nil || !c.IsValid() {
		return fmt.Errorf("%w for %q", ErrBadCoordinate, name)
	}
	c = c.Clone()
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == r.localName {
		r.local = c
		return nil
	}
	e, ok := r.servers[name]
	if !ok {
		return fmt.Errorf("coordinate of %q: %w", name, ErrUnknownServer)
	}
	e.coord = c
	return nil
}

// MarkFailed takes a server out of routing for FailureHoldTicks ticks,
// after an RPC transport error, so that the next server of its datacenter
// is tried. Gossip news of the server (join, update, failed) or MarkHealthy
// lifts the mark sooner.
func (r *Router) MarkFailed(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.servers[name]
	if !ok {
		return fmt.Errorf("mark %q failed: %w", name, ErrUnknownServer)
	}
	e.markedUntil = r.now + r.hold
	return nil
}

// MarkHealthy lifts a MarkFailed mark, after an RPC to the server worked.
func (r *Router) MarkHealthy(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.servers[name]
	if !ok {
		return fmt.Errorf("mark %q healthy: %w", name, ErrUnknownServer)
	}
	e.markedUntil = 0
	return nil
}

// Tick advances the router's clock by one tick.
func (r *Router) Tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now++
}

// ServersFor returns the routable servers of datacenter dc, nearest first
// (servers without a usable coordinate last, ties by name). The error wraps
// ErrNoPathToDC for a datacenter with no known server and ErrNoServers for
// a known one with no routable server.
func (r *Router) ServersFor(dc string) ([]Server, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	known, failed, marked := false, 0, 0
	var out []Server
	for _, e := range r.servers {
		if e.srv.Datacenter != dc {
			continue
		}
		known = true
		switch {
		case !e.alive:
			failed++
		case e.markedUntil > r.now:
			marked++
		default:
			s := e.srv
			s.RTT, s.HasRTT = r.rtt(e)
			out = append(out, s)
		}
	}
	if !known {
		return nil, fmt.Errorf("%w %q", ErrNoPathToDC, dc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %q (%d failed, %d marked failed after RPC errors)", ErrNoServers, dc, failed, marked)
	}
	slices.SortFunc(out, func(a, b Server) int {
		return cmpNearest(a.Name, a.RTT, a.HasRTT, b.Name, b.RTT, b.HasRTT)
	})
	return out, nil
}

// Datacenters returns every known datacenter: the local one first, then the
// others by the RTT to their nearest alive server (datacenters without one,
// or without coordinates, last; ties by name).
func (r *Router) Datacenters() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	type dist struct {
		rtt time.Duration
		has bool
	}
	dcs := make(map[string]dist)
	for _, e := range r.servers {
		d := dcs[e.srv.Datacenter]
		if e.alive {
			if rtt, ok := r.rtt(e); ok && (!d.has || rtt < d.rtt) {
				d = dist{rtt, true}
			}
		}
		dcs[e.srv.Datacenter] = d
	}
	delete(dcs, r.dc)
	out := make([]string, 0, len(dcs)+1)
	for name := range dcs {
		out = append(out, name)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmpNearest(a, dcs[a].rtt, dcs[a].has, b, dcs[b].rtt, dcs[b].has)
	})
	return append([]string{r.dc}, out...)
}

// rtt estimates the round trip to e's server from this server.
func (r *Router) rtt(e *routeEntry) (time.Duration, bool) {
	c := e.coord
	if e.srv.Name == r.localName {
		c = r.local
	}
	if r.local == nil || c == nil || !r.local.IsCompatibleWith(c) {
		return 0, false
	}
	return r.local.DistanceTo(c), true
}

// cmpNearest orders by known RTT first, then RTT, then name.
func cmpNearest(aName string, aRTT time.Duration, aHas bool, bName string, bRTT time.Duration, bHas bool) int {
	if aHas != bHas {
		if aHas {
			return -1
		}
		return 1
	}
	if aHas && aRTT != bRTT {
		return cmp.Compare(aRTT, bRTT)
	}
	return cmp.Compare(aName, bName)
}

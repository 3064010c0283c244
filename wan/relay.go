package wan

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// RelaysFor returns the servers of other datacenters through which a
// request for datacenter dc may be relayed when no server of dc answers
// this one directly: the routable servers of every datacenter other than
// this one and dc, best first.
//
// A relay is only worth trying if some server of dc is alive in gossip
// (the WAN pool as a whole reaches it, whatever this server's own RPC
// marks say); otherwise the error wraps ErrNoPathToDC (dc unknown) or
// ErrNoServers (dc known, every server failed). The order estimates the
// whole path from the shared Vivaldi space: a relay's RTT from this server
// plus its distance to dc's nearest alive server. Each returned Server's
// RTT is that path estimate (HasRTT when every coordinate is known);
// datacenters are kept together, the best path of a datacenter ranking it,
// and relays without an estimate come last, by name.
func (r *Router) RelaysFor(dc string) ([]Server, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var targets []*routeEntry
	known := false
	for _, e := range r.servers {
		if e.srv.Datacenter != dc {
			continue
		}
		known = true
		if e.alive {
			targets = append(targets, e)
		}
	}
	if !known {
		return nil, fmt.Errorf("%w %q", ErrNoPathToDC, dc)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w %q to relay to", ErrNoServers, dc)
	}
	var out []Server
	best := map[string]Server{} // best path per relay datacenter
	for _, e := range r.servers {
		if e.srv.Datacenter == dc || e.srv.Datacenter == r.dc || !e.alive || e.markedUntil > r.now {
			continue
		}
		s := e.srv
		s.RTT, s.HasRTT = r.relayPath(e, targets)
		out = append(out, s)
		if b, ok := best[s.Datacenter]; !ok || cmpNearest(s.Name, s.RTT, s.HasRTT, b.Name, b.RTT, b.HasRTT) < 0 {
			best[s.Datacenter] = s
		}
	}
	slices.SortFunc(out, func(a, b Server) int {
		if a.Datacenter != b.Datacenter {
			ba, bb := best[a.Datacenter], best[b.Datacenter]
			return cmp.Or(cmpNearest(ba.Name, ba.RTT, ba.HasRTT, bb.Name, bb.RTT, bb.HasRTT), cmp.Compare(a.Datacenter, b.Datacenter))
		}
		return cmpNearest(a.Name, a.RTT, a.HasRTT, b.Name, b.RTT, b.HasRTT)
	})
	return out, nil
}

// relayPath estimates the round trip from this server through relay to
// the nearest of targets.
func (r *Router) relayPath(relay *routeEntry, targets []*routeEntry) (time.Duration, bool) {
	first, ok := r.rtt(relay)
	if !ok {
		return 0, false
	}
	var second time.Duration
	found := false
	for _, t := range targets {
		if t.coord == nil || !relay.coord.IsCompatibleWith(t.coord) {
			continue
		}
		if d := relay.coord.DistanceTo(t.coord); !found || d < second {
			second, found = d, true
		}
	}
	return first + second, found
}

package agent

import (
	"math"
	"sort"
	"time"
)

// sortNear orders items by estimated round-trip time from the node named
// near, using the network coordinates this agent learned from gossip
// (Consul's ?near=). Nodes without a coordinate go last; when near itself
// has none the order is left alone.
func sortNear[T any](a *Agent, near string, items []T, node func(T) string) {
	if near == "" || a.lan == nil || len(items) < 2 {
		return
	}
	origin, ok := a.lan.Coordinate(near)
	if !ok {
		return
	}
	dist := make(map[string]time.Duration, len(items))
	for _, it := range items {
		name := node(it)
		if _, done := dist[name]; done {
			continue
		}
		d := time.Duration(math.MaxInt64)
		if c, ok := a.lan.Coordinate(name); ok && c.IsCompatibleWith(origin) {
			d = origin.DistanceTo(c)
		}
		dist[name] = d
	}
	sort.SliceStable(items, func(i, j int) bool { return dist[node(items[i])] < dist[node(items[j])] })
}

package agent

import (
	"context"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// sortNear orders items by estimated round-trip time from the node named
// by cq.Near (Consul's ?near=), using the LAN coordinates the leader of
// the datacenter that answered stores for every node (agents send theirs
// every 15 s or so). For the local datacenter, a node whose coordinate is
// not stored yet (an agent that just joined) falls back to what this
// agent learned from gossip. Nodes without a coordinate go last; when the
// near node has none the order is left alone.
func sortNear[T any](ctx context.Context, a *Agent, cq *pb.CatalogQuery, items []T, node func(T) string) {
	if cq.GetNear() == "" || len(items) < 2 {
		return
	}
	coords := a.nodeCoordinates(ctx, cq.GetQuery().GetDc())
	lookup := func(name string) (*coordinate.Coordinate, bool) {
		if c, ok := coords[strings.ToLower(name)]; ok {
			return c, true
		}
		if a.lan != nil && (cq.GetQuery().GetDc() == "" || cq.GetQuery().GetDc() == a.cfg.Datacenter) {
			return a.lan.Coordinate(name)
		}
		return nil, false
	}
	origin, ok := lookup(cq.Near)
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
		if strings.EqualFold(name, cq.Near) {
			// Serf's estimate from a node to itself is its height twice,
			// which can exceed that to a neighbour of small height.
			d = 0
		} else if c, ok := lookup(name); ok && c.IsCompatibleWith(origin) {
			d = origin.DistanceTo(c)
		}
		dist[name] = d
	}
	sort.SliceStable(items, func(i, j int) bool { return dist[node(items[i])] < dist[node(items[j])] })
}

// nodeCoordinates reads the stored LAN coordinates of a datacenter's
// nodes (the default segment), by lower-cased node name. A stale read: an
// RTT estimate needs no linearizability. Errors leave the map empty.
func (a *Agent) nodeCoordinates(ctx context.Context, dcName string) map[string]*coordinate.Coordinate {
	var resp pb.CoordinateNodesResponse
	req := &pb.CoordinateNodesRequest{Query: &pb.QueryOptions{Dc: dcName, Consistency: pb.Consistency_CONSISTENCY_STALE, Token: a.tokens.agent()}}
	if err := a.backend.RPC(ctx, dc.MethodCoordinateNodes, req, &resp); err != nil {
		a.log.Debug("coordinates for ?near= unavailable", "dc", dcName, "error", err)
		return nil
	}
	out := make(map[string]*coordinate.Coordinate, len(resp.Coordinates))
	for _, e := range resp.Coordinates {
		if e.Segment != "" || e.Coord == nil {
			continue
		}
		out[strings.ToLower(e.Node)] = &coordinate.Coordinate{
			Vec: e.Coord.Vec, Error: e.Coord.Error, Adjustment: e.Coord.Adjustment, Height: e.Coord.Height,
		}
	}
	return out
}

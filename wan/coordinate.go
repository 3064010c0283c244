package wan

import (
	"cmp"
	"slices"

	"github.com/hashicorp/serf/coordinate"
)

// Coordinate returns the WAN network coordinate (Vivaldi, from gossip
// probes) of the named member ("node.dc") as this server last saw it, or
// this server's own for its own name. It reports false when none is known
// yet.
func (p *Pool) Coordinate(name string) (*coordinate.Coordinate, bool) {
	return p.core.Coordinate(name)
}

// NodeCoordinate is one server's WAN coordinate; Node is its member name
// ("node.dc"), as /v1/coordinate/datacenters prints it.
type NodeCoordinate struct {
	Node  string
	Coord *coordinate.Coordinate
}

// DatacenterCoordinates lists the WAN coordinates of one datacenter's
// servers.
type DatacenterCoordinates struct {
	Datacenter  string
	Coordinates []NodeCoordinate
}

// DatacenterCoordinates returns, for /v1/coordinate/datacenters, the
// coordinates of every server the pool knows (alive or failed, not left)
// that has one, grouped by datacenter in Router().Datacenters() order,
// servers by name. Nil when the pool is not running.
func (p *Pool) DatacenterCoordinates() []DatacenterCoordinates {
	if _, err := p.core.Serf(); err != nil {
		return nil
	}
	byDC := make(map[string][]NodeCoordinate)
	for _, m := range p.core.Members() {
		if m.Status != StatusAlive && m.Status != StatusFailed {
			continue
		}
		srv, err := ServerFromMember(m)
		if err != nil {
			continue
		}
		if c, ok := p.core.Coordinate(m.Name); ok {
			byDC[srv.Datacenter] = append(byDC[srv.Datacenter], NodeCoordinate{Node: m.Name, Coord: c})
		}
	}
	var out []DatacenterCoordinates
	for _, dc := range p.router.Datacenters() {
		coords, ok := byDC[dc]
		if !ok {
			continue
		}
		slices.SortFunc(coords, func(a, b NodeCoordinate) int { return cmp.Compare(a.Node, b.Node) })
		out = append(out, DatacenterCoordinates{Datacenter: dc, Coordinates: coords})
	}
	return out
}

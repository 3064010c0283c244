package wan

import (
	"cmp"
	"slices"

	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"
)

// Coordinate returns the WAN network coordinate (Vivaldi, from gossip
// probes) of the named member ("node.dc") as this server last saw it, or
// this server's own for its own name. It reports false when none is known
// yet.
func (p *Pool) Coordinate(name string) (*coordinate.Coordinate, bool) {
	s, err := p.running()
	if err != nil {
		return nil, false
	}
	return p.coordinateOf(s, name)
}

func (p *Pool) coordinateOf(s *serf.Serf, name string) (*coordinate.Coordinate, bool) {
	if name == p.name {
		c, err := s.GetCoordinate()
		return c, err == nil && c != nil
	}
	return s.GetCachedCoordinate(name)
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
	s, err := p.running()
	if err != nil {
		return nil
	}
	byDC := make(map[string][]NodeCoordinate)
	for _, m := range s.Members() {
		if m.Status != serf.StatusAlive && m.Status != serf.StatusFailed {
			continue
		}
		srv, err := ServerFromMember(fromSerf(m))
		if err != nil {
			continue
		}
		if c, ok := p.coordinateOf(s, m.Name); ok {
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

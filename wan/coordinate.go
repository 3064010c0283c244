package wan

import (
	"github.com/hashicorp/serf/coordinate"
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
	if name == p.name {
		c, err := s.GetCoordinate()
		return c, err == nil && c != nil
	}
	return s.GetCachedCoordinate(name)
}

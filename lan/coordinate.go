package lan

import (
	"github.com/hashicorp/serf/coordinate"
)

// Coordinate returns the network coordinate (Vivaldi, from gossip probes)
// of the named member as this agent last saw it, or this agent's own for
// its own name. It reports false when none is known yet.
func (p *Pool) Coordinate(name string) (*coordinate.Coordinate, bool) {
	return p.core.Coordinate(name)
}

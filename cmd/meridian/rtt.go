package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"
)

const rttHelp = `Usage: meridian rtt [options] <node-a> [<node-b>]

  Estimates the round trip time between two nodes from the network
  coordinates Meridian keeps (Vivaldi, from gossip), as consul rtt does.
  Without <node-b>, the estimate is from the local agent's node.

  LAN coordinates are those of the nodes of one datacenter (-datacenter
  picks which). With -wan, nodes are servers named <node>.<datacenter> and
  the WAN coordinates of every datacenter's servers are used; the agent
  asked must be a server or reach one.`

func runRTT(e *cmdEnv, args []string) int {
	var (
		h   httpFlags
		wan bool
	)
	fs := e.newFlagSet("rtt")
	h.register(fs, true)
	fs.BoolVar(&wan, "wan", false, "Use WAN coordinates between servers (<node>.<datacenter>) instead of LAN coordinates.")
	if code, ok := e.parse(fs, rttHelp, args); !ok {
		return code
	}
	nodes := fs.Args()
	switch {
	case len(nodes) == 0 || nodes[0] == "":
		return e.usageError("rtt", "One or two node names must be specified")
	case len(nodes) > 2:
		return e.usageError("rtt", "Too many arguments (expected 1 or 2, got %d)", len(nodes))
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	source := "LAN"
	var c1, c2 *coordinate.Coordinate
	if wan {
		source = "WAN"
		if len(nodes) < 2 {
			self, err := client.Agent().Self()
			if err != nil {
				return e.fail(exitError, "Unable to look up agent info: %v", err)
			}
			name, _ := self["Config"]["NodeName"].(string)
			dc, _ := self["Config"]["Datacenter"].(string)
			nodes = append(nodes, name+"."+dc)
		}
		for _, n := range nodes {
			if i := strings.LastIndex(n, "."); i <= 0 || i == len(n)-1 {
				return e.usageError("rtt", "Node names must be specified as <node name>.<datacenter> with -wan")
			}
		}
		dcs, err := client.Coordinate().Datacenters()
		if err != nil {
			return e.fail(exitError, "Error getting coordinates: %v", err)
		}
		c1, c2 = wanCoordinate(dcs, nodes[0]), wanCoordinate(dcs, nodes[1])
	} else {
		if len(nodes) < 2 {
			name, err := client.Agent().NodeName()
			if err != nil {
				return e.fail(exitError, "Unable to look up agent info: %v", err)
			}
			nodes = append(nodes, name)
		}
		entries, _, err := client.Coordinate().Nodes(client.read(e.ctx))
		if err != nil {
			return e.fail(exitError, "Error getting coordinates: %v", err)
		}
		c1, c2 = lanCoordinate(entries, nodes[0]), lanCoordinate(entries, nodes[1])
	}
	for i, c := range []*coordinate.Coordinate{c1, c2} {
		if c == nil {
			return e.fail(exitError, "Could not find a coordinate for node %q", nodes[i])
		}
	}
	if !c1.IsCompatibleWith(c2) {
		return e.fail(exitError, "Coordinates of %q and %q are not compatible (%d and %d dimensions)", nodes[0], nodes[1], len(c1.Vec), len(c2.Vec))
	}
	ms := c1.DistanceTo(c2).Seconds() * 1000
	fmt.Fprintf(e.stdout, "Estimated %s <-> %s rtt: %.3f ms (using %s coordinates)\n", nodes[0], nodes[1], ms, source)
	return exitOK
}

// lanCoordinate finds a node's coordinate of the default segment.
func lanCoordinate(entries []*api.CoordinateEntry, node string) *coordinate.Coordinate {
	for _, e := range entries {
		if e.Segment == "" && strings.EqualFold(e.Node, node) {
			return e.Coord
		}
	}
	return nil
}

// wanCoordinate finds the coordinate of a server named "node.dc" among
// every datacenter's; entries name servers "node.dc" too.
func wanCoordinate(dcs []*api.CoordinateDatacenterMap, name string) *coordinate.Coordinate {
	dc := name[strings.LastIndex(name, ".")+1:]
	for _, m := range dcs {
		if m.Datacenter != dc {
			continue
		}
		for _, e := range m.Coordinates {
			if strings.EqualFold(e.Node, name) {
				return e.Coord
			}
		}
	}
	return nil
}

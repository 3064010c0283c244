package agent

import (
	"net/http"
	"slices"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// coordJSON is serf's coordinate.Coordinate as Consul prints it.
type coordJSON struct {
	Vec        []float64
	Error      float64
	Adjustment float64
	Height     float64
}

// coordinateEntryJSON is Consul's CoordinateEntry (api.CoordinateEntry).
type coordinateEntryJSON struct {
	Node    string
	Segment string
	Coord   *coordJSON
}

// datacenterMapJSON is Consul's DatacenterMap (api.CoordinateDatacenterMap).
type datacenterMapJSON struct {
	Datacenter  string
	AreaID      string
	Coordinates []coordinateEntryJSON
}

// coordinateUpdateJSON is the body of PUT /v1/coordinate/update (Consul's
// CoordinateUpdateRequest; the Go client's Coordinate().Update sends a
// CoordinateEntry).
type coordinateUpdateJSON struct {
	Node    string
	Segment string
	Coord   *coordJSON
}

func toCoordJSON(c *pb.Coordinate) *coordJSON {
	if c == nil {
		return nil
	}
	return &coordJSON{Vec: slices.Clone(c.Vec), Error: c.Error, Adjustment: c.Adjustment, Height: c.Height}
}

func toCoordinateEntriesJSON(in []*pb.CoordinateEntry, segment string, filterSegment bool) []coordinateEntryJSON {
	out := make([]coordinateEntryJSON, 0, len(in))
	for _, e := range in {
		if filterSegment && e.Segment != segment {
			continue
		}
		out = append(out, coordinateEntryJSON{Node: e.Node, Segment: e.Segment, Coord: toCoordJSON(e.Coord)})
	}
	return out
}

func (a *Agent) coordinateDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	var resp pb.CoordinateDatacentersResponse
	if err := a.backend.RPC(r.Context(), dc.MethodCoordinateDatacenters, &pb.CoordinateDatacentersRequest{}, &resp); err != nil {
		return nil, err
	}
	out := make([]datacenterMapJSON, 0, len(resp.Datacenters))
	for _, d := range resp.Datacenters {
		out = append(out, datacenterMapJSON{Datacenter: d.Datacenter, AreaID: d.AreaId, Coordinates: toCoordinateEntriesJSON(d.Coordinates, "", false)})
	}
	return out, nil
}

func (a *Agent) coordinateNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.readCoordinates(w, r, "")
}

// coordinateNode answers one node's coordinates, 404 when it has none (as
// Consul does).
func (a *Agent) coordinateNode(w http.ResponseWriter, r *http.Request) (any, error) {
	node := r.PathValue("node")
	if node == "" {
		return nil, badRequest("Missing node name")
	}
	return a.readCoordinates(w, r, node)
}

func (a *Agent) readCoordinates(w http.ResponseWriter, r *http.Request, node string) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.CoordinateNodesResponse
	if err := a.backend.RPC(r.Context(), dc.MethodCoordinateNodes, &pb.CoordinateNodesRequest{Query: q, Node: node}, &resp); err != nil {
		return nil, err
	}
	setMeta(w, resp.Meta)
	segment, filter := query(r)["segment"]
	seg := ""
	if filter {
		seg = segment[0]
	}
	out := toCoordinateEntriesJSON(resp.Coordinates, seg, filter)
	if node != "" && len(out) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	return out, nil
}

// coordinateUpdate stores a node's LAN coordinate (PUT
// /v1/coordinate/update); the leader writes it with its next batch.
func (a *Agent) coordinateUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	var in coordinateUpdateJSON
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	if in.Node == "" {
		return nil, badRequest("Must provide Node")
	}
	if in.Coord == nil {
		return nil, badRequest("Must provide Coord")
	}
	if err := a.allowed(r, acl.ResourceNode, acl.AccessWrite, in.Node); err != nil {
		return nil, err
	}
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	req := &pb.CoordinateUpdateRequest{Write: wo, Node: in.Node, Segment: in.Segment, Coord: &pb.Coordinate{
		Vec: in.Coord.Vec, Error: in.Coord.Error, Adjustment: in.Coord.Adjustment, Height: in.Coord.Height,
	}}
	if err := a.backend.RPC(r.Context(), dc.MethodCoordinateUpdate, req, &pb.CoordinateUpdateResponse{}); err != nil {
		return nil, err
	}
	return nil, nil
}

package dc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
	"github.com/meridian-io/meridian/wan"
)

// WANCoordinates is the WAN pool's view of every datacenter's servers'
// coordinates; *wan.Pool is one.
type WANCoordinates interface {
	DatacenterCoordinates() []wan.DatacenterCoordinates
}

// coordinateBatch holds the coordinate updates the leader received since
// its last flush, one per node and segment (a newer update replaces an
// older one), as Consul's Coordinate endpoint does.
type coordinateBatch struct {
	mu      sync.Mutex
	pending map[string]*pb.CoordinateEntry
}

// add queues an update; it fails when limit distinct nodes already wait,
// so a flood of made-up node names cannot grow the queue without bound.
func (b *coordinateBatch) add(e *pb.CoordinateEntry, limit int) error {
	key := e.Node + "\x00" + e.Segment
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[string]*pb.CoordinateEntry{}
	}
	if _, ok := b.pending[key]; !ok && len(b.pending) >= limit {
		return fmt.Errorf("%w: coordinate update rate limited (%d updates wait)", rpc.ErrTooLarge, limit)
	}
	b.pending[key] = e
	return nil
}

// take empties the queue and returns what it held, sorted by node and
// segment.
func (b *coordinateBatch) take() []*pb.CoordinateEntry {
	b.mu.Lock()
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	out := make([]*pb.CoordinateEntry, 0, len(pending))
	for _, e := range pending {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *pb.CoordinateEntry) int {
		if a.Node != b.Node {
			return compareStrings(a.Node, b.Node)
		}
		return compareStrings(a.Segment, b.Segment)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Server) coordinateLimit() int {
	return max(s.cfg.CoordinateUpdateBatchSize, 1) * max(s.cfg.CoordinateUpdateMaxBatches, 1)
}

// coordinateUpdate takes an agent's LAN coordinate. It goes to the leader,
// which queues it; every CoordinateUpdatePeriod the leader writes the
// queue to the log (see flushCoordinates). A node not in the catalog is
// accepted and then dropped by the store, as Consul does.
func (s *Server) coordinateUpdate(ctx context.Context, req *pb.CoordinateUpdateRequest, resp *pb.CoordinateUpdateResponse) error {
	if req.Node == "" {
		return fmt.Errorf("%w: Must provide Node", rpc.ErrBadRequest)
	}
	if !store.ValidCoordinate(req.Coord) {
		return fmt.Errorf("%w: invalid coordinate (want 1 to %d finite dimensions and finite error, adjustment and height)",
			rpc.ErrBadRequest, store.MaxCoordinateDimensions)
	}
	if done, err := s.forwardWrite(ctx, MethodCoordinateUpdate, req.Write, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Write.GetToken(), acl.ResourceNode, acl.AccessWrite, req.Node); err != nil {
		return err
	}
	e := &pb.CoordinateEntry{Node: req.Node, Segment: req.Segment, Coord: proto.Clone(req.Coord).(*pb.Coordinate)}
	return s.coords.add(e, s.coordinateLimit())
}

// runCoordinateBatches flushes the leader's queued coordinate updates
// every CoordinateUpdatePeriod until the server shuts down.
func (s *Server) runCoordinateBatches() {
	period := s.cfg.CoordinateUpdatePeriod
	if period <= 0 {
		period = 5 * time.Second
	}
	for {
		tick, timer := clock.After(s.clock, period)
		select {
		case <-s.shutdownCh:
			timer.Stop()
			return
		case <-tick:
		}
		if err := s.flushCoordinates(s.baseCtx); err != nil {
			s.log.Warn("coordinate updates not written", "error", err)
		}
	}
}

// flushCoordinates writes the queued updates to the log in entries of at
// most CoordinateUpdateBatchSize, at most CoordinateUpdateMaxBatches of
// them; updates beyond are discarded (their agents send again). The
// entries are marked ignore_if_unknown: a server of an earlier version
// skips them and only lacks some RTT estimates.
func (s *Server) flushCoordinates(ctx context.Context) error {
	updates := s.coords.take()
	if len(updates) == 0 {
		return nil
	}
	if limit := s.coordinateLimit(); len(updates) > limit {
		s.log.Warn("discarded coordinate updates", "discarded", len(updates)-limit)
		updates = updates[:limit]
	}
	size := max(s.cfg.CoordinateUpdateBatchSize, 1)
	for chunk := range slices.Chunk(updates, size) {
		cmd := &pb.Command{IgnoreIfUnknown: true, Cmd: &pb.Command_CoordinateUpdate{
			CoordinateUpdate: &pb.CoordinateBatchUpdate{Updates: chunk}}}
		if _, err := s.raftApply(ctx, cmd); err != nil {
			return err
		}
	}
	return nil
}

// coordinateNodes lists the LAN coordinates of every node, or of one.
func (s *Server) coordinateNodes(ctx context.Context, req *pb.CoordinateNodesRequest, resp *pb.CoordinateNodesResponse) error {
	if done, err := s.forwardQuery(ctx, MethodCoordinateNodes, req.Query, req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, req.Query.GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		var (
			idx    uint64
			coords []*pb.CoordinateEntry
			err    error
		)
		if req.Node != "" {
			idx, coords, err = s.store.NodeCoordinates(ws, req.Node)
		} else {
			idx, coords, err = s.store.Coordinates(ws)
		}
		resp.Coordinates = coords
		if filter {
			resp.Coordinates, resp.Meta.ResultsFilteredByAcls = keep(coords, func(e *pb.CoordinateEntry) bool {
				return nodeReadable(id.Authorizer, e.Node)
			})
		}
		return idx, err
	})
}

// coordinateDatacenters lists the WAN coordinates of every datacenter's
// servers as this server's WAN pool sees them (not forwarded, not
// blocking).
func (s *Server) coordinateDatacenters(ctx context.Context, req *pb.CoordinateDatacentersRequest, resp *pb.CoordinateDatacentersResponse) error {
	resp.Datacenters = nil
	if s.deps.WAN == nil {
		return nil
	}
	for _, dc := range s.deps.WAN.DatacenterCoordinates() {
		out := &pb.DatacenterCoordinates{Datacenter: dc.Datacenter, AreaId: "WAN"}
		for _, nc := range dc.Coordinates {
			if nc.Coord == nil {
				continue
			}
			out.Coordinates = append(out.Coordinates, &pb.CoordinateEntry{Node: nc.Node, Coord: &pb.Coordinate{
				Vec: slices.Clone(nc.Coord.Vec), Error: nc.Coord.Error, Adjustment: nc.Coord.Adjustment, Height: nc.Coord.Height,
			}})
		}
		resp.Datacenters = append(resp.Datacenters, out)
	}
	return nil
}

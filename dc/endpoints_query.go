package dc

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// Prepared query RPC methods, Consul's names.
const (
	MethodPreparedQueryApply         = "PreparedQuery.Apply"
	MethodPreparedQueryGet           = "PreparedQuery.Get"
	MethodPreparedQueryExecute       = "PreparedQuery.Execute"
	MethodPreparedQueryExecuteRemote = "PreparedQuery.ExecuteRemote"
)

func (s *Server) preparedQueryApply(ctx context.Context, req *pb.PreparedQueryApplyRequest, resp *pb.PreparedQueryApplyResponse) error {
	q := req.GetQuery()
	switch req.Op {
	case pb.PreparedQueryOp_PREPARED_QUERY_CREATE:
		if err := validatePreparedQuery(q); err != nil {
			return err
		}
	case pb.PreparedQueryOp_PREPARED_QUERY_UPDATE:
		if q.GetId() == "" {
			return fmt.Errorf("%w: Must provide a query ID", rpc.ErrBadRequest)
		}
		if err := validatePreparedQuery(q); err != nil {
			return err
		}
	case pb.PreparedQueryOp_PREPARED_QUERY_DELETE:
		if q.GetId() == "" {
			return fmt.Errorf("%w: Must provide a query ID", rpc.ErrBadRequest)
		}
		q = &pb.PreparedQuery{Id: q.Id}
	default:
		return fmt.Errorf("%w: unknown prepared query operation %v", rpc.ErrBadRequest, req.Op)
	}
	if done, err := s.forwardWrite(ctx, MethodPreparedQueryApply, req.Write, req, resp); done {
		return err
	}
	if err := s.queryWriteAllowed(ctx, req); err != nil {
		return err
	}
	if req.Op == pb.PreparedQueryOp_PREPARED_QUERY_CREATE {
		q.Id = newUUID()
	}
	res, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_PreparedQuery{PreparedQuery: &pb.PreparedQueryApply{Op: req.Op, Query: q}}})
	if err != nil {
		return err
	}
	resp.Id, resp.Index = q.Id, res.Index
	return nil
}

func (s *Server) preparedQueryGet(ctx context.Context, req *pb.PreparedQueryGetRequest, resp *pb.PreparedQueriesResponse) error {
	if done, err := s.forwardQuery(ctx, MethodPreparedQueryGet, req.Query, req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, req.Query.GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	err = s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		var idx uint64
		var err error
		if req.Id == "" {
			idx, resp.Queries, err = s.store.PreparedQueries(ws)
		} else {
			var q *pb.PreparedQuery
			idx, q, err = s.store.PreparedQuery(ws, req.Id)
			resp.Queries = resp.Queries[:0]
			if q != nil {
				resp.Queries = append(resp.Queries, q)
			}
		}
		if filter {
			z := id.Authorizer
			resp.Queries, resp.Meta.ResultsFilteredByAcls = keep(resp.Queries, func(q *pb.PreparedQuery) bool { return queryReadable(z, q) })
			resp.Queries = redactQueryTokens(z, resp.Queries)
		}
		return idx, err
	})
	if err == nil && req.Id != "" && len(resp.Queries) == 0 {
		if resp.Meta.ResultsFilteredByAcls {
			return PermissionDenied(id.AccessorID, acl.ResourceQuery, acl.AccessRead, req.Id)
		}
		return fmt.Errorf("%w: Query not found", rpc.ErrNotFound)
	}
	return err
}

// preparedQueryExecute runs a query by ID or name: it filters the local
// instances of its service and, when none is left, fails over to the
// nearest datacenters that have some (Consul's PreparedQuery.Execute).
func (s *Server) preparedQueryExecute(ctx context.Context, req *pb.PreparedQueryExecuteRequest, resp *pb.PreparedQueryExecuteResponse) error {
	if req.QueryIdOrName == "" {
		return fmt.Errorf("%w: Must provide a query ID or name", rpc.ErrBadRequest)
	}
	if done, err := s.forwardRead(ctx, MethodPreparedQueryExecute, req.Query, req, resp); done {
		return err
	}
	idx, stored, err := s.store.ResolvePreparedQuery(nil, req.QueryIdOrName)
	if err != nil {
		return err
	}
	if stored == nil {
		return fmt.Errorf("%w: Query not found", rpc.ErrNotFound)
	}
	if id, on, err := s.queryIdentity(ctx, req.Query.GetToken()); err != nil {
		return err
	} else if on && !queryReadable(id.Authorizer, stored) {
		return PermissionDenied(id.AccessorID, acl.ResourceQuery, acl.AccessRead, stored.Name)
	}
	q, err := renderQuery(stored, req.QueryIdOrName)
	if err != nil {
		return fmt.Errorf("%w: %v", rpc.ErrBadRequest, err)
	}
	resp.Meta = &pb.QueryMeta{Index: max(idx, 1), Consistency: req.Query.GetConsistency()}
	s.setQueryMeta(resp.Meta)
	resp.Query = q
	if req.Explain {
		return nil
	}
	near := q.GetService().GetNear()
	if req.Near != "" {
		near = req.Near
	}
	if err := s.executeLocal(ctx, q, near, req.Query.GetToken(), req, resp); err != nil {
		return err
	}
	if len(resp.Nodes) == 0 {
		s.failover(ctx, q, req, resp)
	}
	return nil
}

// preparedQueryExecuteRemote runs a rendered query in this datacenter
// for another one's failover.
func (s *Server) preparedQueryExecuteRemote(ctx context.Context, req *pb.PreparedQueryExecuteRemoteRequest, resp *pb.PreparedQueryExecuteResponse) error {
	if req.GetPrepared().GetService().GetService() == "" {
		return fmt.Errorf("%w: Must provide a Service name to query", rpc.ErrBadRequest)
	}
	if done, err := s.forwardRead(ctx, MethodPreparedQueryExecuteRemote, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{Index: max(s.store.TableIndex(nil, "services", "checks", "nodes"), 1), Consistency: req.Query.GetConsistency()}
	s.setQueryMeta(resp.Meta)
	// The asking agent is in another datacenter: no RTT sort applies here.
	return s.executeLocal(ctx, req.Prepared, "", req.Query.GetToken(), &pb.PreparedQueryExecuteRequest{Limit: req.Limit}, resp)
}

// failover tries the datacenters of q's failover policy in order (the
// nearest_n nearest by RTT, then the named ones not tried yet, each known
// to the WAN router) until one has instances. Failovers counts the
// datacenters tried; one that fails to answer is passed over.
func (s *Server) failover(ctx context.Context, q *pb.PreparedQuery, req *pb.PreparedQueryExecuteRequest, resp *pb.PreparedQueryExecuteResponse) {
	f := q.GetService().GetFailover()
	known := s.Datacenters()
	var remote []string
	for _, dc := range known {
		if dc != s.cfg.Datacenter {
			remote = append(remote, dc)
		}
	}
	var dcs []string
	for i, dc := range remote {
		if i < int(f.GetNearestN()) {
			dcs = append(dcs, dc)
		}
	}
	for _, dc := range f.GetDatacenters() {
		if !slices.Contains(remote, dc) {
			s.log.Debug("prepared query failover skips an unknown datacenter", "dc", dc)
			continue
		}
		if !slices.Contains(dcs, dc) {
			dcs = append(dcs, dc)
		}
	}
	for i, dc := range dcs {
		rreq := &pb.PreparedQueryExecuteRemoteRequest{
			Query:    &pb.QueryOptions{Dc: dc, Consistency: req.Query.GetConsistency(), Token: req.Query.GetToken()},
			Prepared: q, Limit: req.Limit,
		}
		var rresp pb.PreparedQueryExecuteResponse
		_, err := s.forwardDC(ctx, MethodPreparedQueryExecuteRemote, dc, true, rreq, &rresp)
		if err != nil {
			s.log.Warn("prepared query failover to a datacenter failed", "dc", dc, "error", err)
			resp.Failovers = int32(i + 1)
			continue
		}
		resp.Failovers = int32(i + 1)
		if len(rresp.Nodes) > 0 {
			resp.Nodes, resp.Datacenter = rresp.Nodes, rresp.Datacenter
			return
		}
	}
}

// executeLocal fills resp with this datacenter's instances that pass q's
// filters, sorted by RTT from near when it names a node with a
// coordinate, else shuffled, and cut to the request's limit.
func (s *Server) executeLocal(ctx context.Context, q *pb.PreparedQuery, near, token string, req *pb.PreparedQueryExecuteRequest, resp *pb.PreparedQueryExecuteResponse) error {
	svc := q.GetService()
	resp.Service, resp.Dns, resp.Datacenter = svc.GetService(), q.GetDns(), s.cfg.Datacenter
	_, insts, err := s.store.ServiceInstances(nil, svc.GetService(), true)
	if err != nil {
		return err
	}
	resp.Nodes = resp.Nodes[:0]
	for _, in := range insts {
		if queryTagsMatch(in.Service.Tags, svc.GetTags()) &&
			store.MetaMatches(in.Node.Meta, svc.GetNodeMeta()) &&
			store.MetaMatches(in.Service.Meta, svc.GetServiceMeta()) &&
			queryHealthy(in.Checks, svc.GetOnlyPassing(), svc.GetIgnoreCheckIds()) {
			resp.Nodes = append(resp.Nodes, in)
		}
	}
	// What the token may not read is left out before the limit applies
	// (and before an empty answer fails over).
	if err := s.filterExecuted(ctx, q, token, resp); err != nil {
		return err
	}
	if !s.sortNear(resp.Nodes, near, req) {
		rand.Shuffle(len(resp.Nodes), func(i, j int) { resp.Nodes[i], resp.Nodes[j] = resp.Nodes[j], resp.Nodes[i] })
	}
	if req.Limit > 0 && int(req.Limit) < len(resp.Nodes) {
		resp.Nodes = resp.Nodes[:req.Limit]
	}
	return nil
}

// queryTagsMatch reports whether have has every tag of want and none of
// the tags want names with a leading "!", ignoring case.
func queryTagsMatch(have, want []string) bool {
	for _, w := range want {
		tag, exclude := strings.CutPrefix(w, "!")
		found := slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, tag) })
		if found == exclude {
			return false
		}
	}
	return true
}

// queryHealthy reports whether an instance is served: no check critical
// (or in maintenance), and with onlyPassing none warning either; the
// checks named in ignore do not count.
func queryHealthy(checks []*pb.HealthCheck, onlyPassing bool, ignore []string) bool {
	for _, c := range checks {
		if slices.Contains(ignore, c.CheckId) {
			continue
		}
		switch c.Status {
		case store.HealthPassing:
		case store.HealthWarning:
			if onlyPassing {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// sortNear orders nodes by estimated RTT from the near node ("_agent" is
// the asking agent's node, "_ip" the node whose address is the client's,
// else the asking agent's), using the stored LAN coordinates. It reports
// false, leaving nodes alone, when there is no origin coordinate.
func (s *Server) sortNear(nodes []*pb.ServiceInstance, near string, req *pb.PreparedQueryExecuteRequest) bool {
	switch near {
	case "":
		return false
	case "_agent":
		near = req.SourceNode
	case "_ip":
		near = req.SourceNode
		if req.SourceIp != "" {
			if _, all, err := s.store.Nodes(nil); err == nil {
				for _, n := range all {
					if n.Address == req.SourceIp {
						near = n.Node
						break
					}
				}
			}
		}
	}
	_, entries, err := s.store.Coordinates(nil)
	if err != nil || near == "" {
		return false
	}
	coords := map[string]*coordinate.Coordinate{}
	for _, e := range entries {
		if e.Segment == "" && e.Coord != nil {
			coords[strings.ToLower(e.Node)] = &coordinate.Coordinate{Vec: e.Coord.Vec, Error: e.Coord.Error, Adjustment: e.Coord.Adjustment, Height: e.Coord.Height}
		}
	}
	origin, ok := coords[strings.ToLower(near)]
	if !ok {
		return false
	}
	dist := func(n *pb.ServiceInstance) time.Duration {
		if strings.EqualFold(n.Node.Node, near) {
			return 0
		}
		if c, ok := coords[strings.ToLower(n.Node.Node)]; ok && c.IsCompatibleWith(origin) {
			return origin.DistanceTo(c)
		}
		return time.Duration(math.MaxInt64)
	}
	sort.SliceStable(nodes, func(i, j int) bool { return dist(nodes[i]) < dist(nodes[j]) })
	return true
}

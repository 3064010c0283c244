package dc

import (
	"context"
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

func (s *Server) catalogRegister(ctx context.Context, req *pb.RegisterRequest, resp *pb.WriteResponse) error {
	if err := validateRegister(req); err != nil {
		return err
	}
	if done, err := s.forwardWrite(ctx, MethodCatalogRegister, req.Write, req, resp); done {
		return err
	}
	if err := s.registerAllowed(ctx, req); err != nil {
		return err
	}
	cmd := &pb.Command{Cmd: &pb.Command_Register{Register: &pb.CatalogRegister{
		Node: req.Node, Service: req.Service, Checks: req.Checks, SkipNodeUpdate: req.SkipNodeUpdate,
	}}}
	res, err := s.raftApply(ctx, cmd)
	if err != nil {
		return err
	}
	resp.Index = res.Index
	return nil
}

// validateRegister refuses a registration that could never apply, with
// Consul's messages.
func validateRegister(req *pb.RegisterRequest) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{rpc.ErrBadRequest}, args...)...)
	}
	n := req.GetNode()
	if n == nil || n.Node == "" {
		return bad("Must provide node")
	}
	if n.Address == "" && !req.SkipNodeUpdate {
		return bad("Must provide address if SkipNodeUpdate is not set")
	}
	if svc := req.GetService(); svc != nil {
		if svc.Service == "" {
			return bad("Must provide service name")
		}
		if svc.Port < 0 || svc.Port > 65535 {
			return bad("Invalid service port %d", svc.Port)
		}
	}
	for _, c := range req.GetChecks() {
		if c.CheckId == "" {
			return bad("Must provide a check ID")
		}
		if c.Status != "" && !store.ValidStatus(c.Status) {
			return bad("Invalid check status %q", c.Status)
		}
		if c.Node != "" && !strings.EqualFold(c.Node, n.Node) {
			return bad("Check %q has node %q, registration is for %q", c.CheckId, c.Node, n.Node)
		}
	}
	return nil
}

func (s *Server) catalogDeregister(ctx context.Context, req *pb.DeregisterRequest, resp *pb.WriteResponse) error {
	if req.Node == "" {
		return fmt.Errorf("%w: Must provide node", rpc.ErrBadRequest)
	}
	if done, err := s.forwardWrite(ctx, MethodCatalogDeregister, req.Write, req, resp); done {
		return err
	}
	if err := s.deregisterAllowed(ctx, req); err != nil {
		return err
	}
	cmd := &pb.Command{Cmd: &pb.Command_Deregister{Deregister: &pb.CatalogDeregister{
		Node: req.Node, ServiceId: req.ServiceId, CheckId: req.CheckId,
	}}}
	res, err := s.raftApply(ctx, cmd)
	if err != nil {
		return err
	}
	resp.Index = res.Index
	return nil
}

func (s *Server) catalogNodes(ctx context.Context, req *pb.NodesRequest, resp *pb.NodesResponse) error {
	q := req.GetQ()
	if done, err := s.forwardQuery(ctx, MethodCatalogNodes, q.GetQuery(), req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, q.GetQuery().GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, q.GetQuery(), resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		idx, nodes, err := s.store.Nodes(ws)
		resp.Nodes = resp.Nodes[:0]
		resp.Meta.ResultsFilteredByAcls = false
		for _, n := range nodes {
			if !store.MetaMatches(n.Meta, q.GetNodeMeta()) {
				continue
			}
			if filter && !nodeReadable(id.Authorizer, n.Node) {
				resp.Meta.ResultsFilteredByAcls = true
				continue
			}
			resp.Nodes = append(resp.Nodes, n)
		}
		return idx, err
	})
}

func (s *Server) catalogServices(ctx context.Context, req *pb.ServicesRequest, resp *pb.ServicesResponse) error {
	q := req.GetQ()
	if done, err := s.forwardQuery(ctx, MethodCatalogServices, q.GetQuery(), req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, q.GetQuery().GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, q.GetQuery(), resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		resp.Meta.ResultsFilteredByAcls = false
		if req.WithInstances {
			idx, instances, err := s.store.AllServiceInstances(ws, q.GetNodeMeta())
			resp.Instances = instances
			if filter {
				resp.Instances, resp.Meta.ResultsFilteredByAcls = keep(instances, func(in *pb.ServiceInstance) bool {
					return instanceReadable(id.Authorizer, in)
				})
			}
			return idx, err
		}
		idx, services, err := s.store.Services(ws, q.GetNodeMeta())
		resp.Services = make(map[string]*pb.ServiceTags, len(services))
		for name, tags := range services {
			if filter && !serviceReadable(id.Authorizer, name) {
				resp.Meta.ResultsFilteredByAcls = true
				continue
			}
			resp.Services[name] = &pb.ServiceTags{Tags: tags}
		}
		return idx, err
	})
}

func (s *Server) catalogServiceNodes(ctx context.Context, req *pb.ServiceNodesRequest, resp *pb.ServiceNodesResponse) error {
	q := req.GetQ()
	if req.Service == "" {
		return fmt.Errorf("%w: Missing service name", rpc.ErrBadRequest)
	}
	if done, err := s.forwardQuery(ctx, MethodCatalogServiceNodes, q.GetQuery(), req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, q.GetQuery().GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	key := serviceReadKey(req)
	return s.blockingQuery(ctx, q.GetQuery(), resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		// A cached answer may be shared with other readers: resp.Instances
		// is replaced, never written into.
		gen := s.store.AbandonCh()
		cidx, own := s.store.ServiceIndex(ws, req.Service)
		// An answer filtered by a token's ACLs is that token's alone.
		cacheable := own && !filter
		if cacheable {
			if hit, ok := s.serviceCache.get(key, cidx, gen); ok {
				resp.Instances = hit
				return cidx, nil
			}
		}
		withChecks := req.WithChecks || req.PassingOnly
		idx, instances, err := s.store.ServiceInstances(ws, req.Service, withChecks)
		resp.Instances = nil
		resp.Meta.ResultsFilteredByAcls = false
		if cacheable {
			defer func() {
				if err == nil && idx == cidx {
					s.serviceCache.put(key, idx, gen, resp.Instances)
				}
			}()
		}
		for _, inst := range instances {
			if filter && !instanceReadable(id.Authorizer, inst) {
				resp.Meta.ResultsFilteredByAcls = true
				continue
			}
			if !hasAllTags(inst.Service.Tags, req.Tags) || !store.MetaMatches(inst.Node.Meta, q.GetNodeMeta()) {
				continue
			}
			if req.PassingOnly && !allPassing(inst.Checks) {
				continue
			}
			if !req.WithChecks {
				inst = &pb.ServiceInstance{Node: inst.Node, Service: inst.Service}
			}
			resp.Instances = append(resp.Instances, inst)
		}
		return idx, err
	})
}

func hasAllTags(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func allPassing(checks []*pb.HealthCheck) bool {
	for _, c := range checks {
		if c.Status != store.HealthPassing {
			return false
		}
	}
	return true
}

func (s *Server) catalogNodeServices(ctx context.Context, req *pb.NodeServicesRequest, resp *pb.NodeServicesResponse) error {
	q := req.GetQ()
	if req.Node == "" {
		return fmt.Errorf("%w: Missing node name", rpc.ErrBadRequest)
	}
	if done, err := s.forwardQuery(ctx, MethodCatalogNodeServices, q.GetQuery(), req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, q.GetQuery().GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, q.GetQuery(), resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		idx, node, services, err := s.store.NodeServices(ws, req.Node)
		resp.Node, resp.Services = node, services
		resp.Meta.ResultsFilteredByAcls = false
		if filter && node != nil {
			if !nodeReadable(id.Authorizer, node.Node) {
				resp.Node, resp.Services, resp.Meta.ResultsFilteredByAcls = nil, nil, true
			} else {
				resp.Services, resp.Meta.ResultsFilteredByAcls = keep(services, func(svc *pb.Service) bool {
					return serviceReadable(id.Authorizer, svc.Service)
				})
			}
		}
		return idx, err
	})
}

func (s *Server) healthChecks(ctx context.Context, req *pb.ChecksRequest, resp *pb.ChecksResponse) error {
	q := req.GetQ()
	selectors := 0
	for _, v := range []string{req.Node, req.Service, req.State} {
		if v != "" {
			selectors++
		}
	}
	if selectors != 1 {
		return fmt.Errorf("%w: give exactly one of node, service and state", rpc.ErrBadRequest)
	}
	if req.State != "" && req.State != store.HealthAny && !store.ValidStatus(req.State) {
		return fmt.Errorf("%w: Invalid check state %q", rpc.ErrBadRequest, req.State)
	}
	if done, err := s.forwardQuery(ctx, MethodHealthChecks, q.GetQuery(), req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, q.GetQuery().GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, q.GetQuery(), resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		var idx uint64
		var checks []*pb.HealthCheck
		var err error
		switch {
		case req.Node != "":
			idx, checks, err = s.store.NodeChecks(ws, req.Node)
		case req.Service != "":
			idx, checks, err = s.store.ServiceChecks(ws, req.Service)
		default:
			idx, checks, err = s.store.ChecksInState(ws, req.State)
		}
		if err != nil {
			return 0, err
		}
		resp.Checks = resp.Checks[:0]
		resp.Meta.ResultsFilteredByAcls = false
		meta := q.GetNodeMeta()
		for _, c := range checks {
			if filter && !checkReadable(id.Authorizer, c) {
				resp.Meta.ResultsFilteredByAcls = true
				continue
			}
			if len(meta) > 0 {
				_, n, err := s.store.Node(nil, c.Node)
				if err != nil {
					return 0, err
				}
				if n == nil || !store.MetaMatches(n.Meta, meta) {
					continue
				}
			}
			resp.Checks = append(resp.Checks, c)
		}
		return idx, nil
	})
}

func (s *Server) catalogDatacenters(ctx context.Context, req *pb.DatacentersRequest, resp *pb.DatacentersResponse) error {
	resp.Datacenters = s.Datacenters()
	return nil
}

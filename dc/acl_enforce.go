package dc

import (
	"context"
	"maps"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
)

// The checks and filters of the catalog, session, coordinate, event and
// prepared query RPCs, run by the server that answers (after any
// forwarding), so a client agent or a direct RPC caller cannot skip them.
// With ACLs off each returns at once.

// queryIdentity resolves a read's token; ok is false with ACLs off
// (nothing to filter).
func (s *Server) queryIdentity(ctx context.Context, token string) (Identity, bool, error) {
	if !s.cfg.ACL.Enabled {
		return Identity{}, false, nil
	}
	id, err := s.ResolveToken(ctx, token)
	return id, err == nil, err
}

// need checks that token may access name of res (nil with ACLs off).
func (s *Server) need(ctx context.Context, token string, res acl.Resource, access acl.Access, name string) error {
	if !s.cfg.ACL.Enabled {
		return nil
	}
	_, err := s.authorize(ctx, token, res, access, name)
	return err
}

// keep returns the elements of in that ok accepts, and whether it left
// any out. It never writes into in (the store's rows are shared).
func keep[T any](in []T, ok func(T) bool) ([]T, bool) {
	for i, x := range in {
		if ok(x) {
			continue
		}
		out := append(make([]T, 0, len(in)-1), in[:i]...)
		for _, y := range in[i+1:] {
			if ok(y) {
				out = append(out, y)
			}
		}
		return out, true
	}
	return in, false
}

func nodeReadable(z *acl.Authorizer, node string) bool {
	return z.Allowed(acl.ResourceNode, node, acl.AccessRead)
}

func serviceReadable(z *acl.Authorizer, service string) bool {
	return z.Allowed(acl.ResourceService, service, acl.AccessRead)
}

// checkReadable: node read on its node, and service read on its service
// when it belongs to one (Consul's filterHealthChecks).
func checkReadable(z *acl.Authorizer, c *pb.HealthCheck) bool {
	return nodeReadable(z, c.GetNode()) && (c.GetServiceId() == "" || serviceReadable(z, c.GetServiceName()))
}

func instanceReadable(z *acl.Authorizer, in *pb.ServiceInstance) bool {
	return nodeReadable(z, in.GetNode().GetNode()) && serviceReadable(z, in.GetService().GetService())
}

// registerAllowed checks a catalog registration as Consul's
// vetRegisterWithACL: node write when it creates or changes the node,
// service write on the service's name (and on the name an instance of
// the same ID had), and for each check write on its service or, for a
// node check, on the node.
func (s *Server) registerAllowed(ctx context.Context, req *pb.RegisterRequest) error {
	if !s.cfg.ACL.Enabled {
		return nil
	}
	id, err := s.ResolveToken(ctx, req.GetWrite().GetToken())
	if err != nil {
		return err
	}
	z, node := id.Authorizer, req.GetNode().GetNode()
	deny := func(res acl.Resource, name string) error {
		return PermissionDenied(id.AccessorID, res, acl.AccessWrite, name)
	}
	_, stored, services, err := s.store.NodeServices(nil, node)
	if err != nil {
		return err
	}
	if !req.SkipNodeUpdate && nodeChanges(stored, req.GetNode()) && !z.Allowed(acl.ResourceNode, node, acl.AccessWrite) {
		return deny(acl.ResourceNode, node)
	}
	serviceName := map[string]string{}
	for _, svc := range services {
		serviceName[svc.Id] = svc.Service
	}
	if svc := req.GetService(); svc != nil {
		if !z.Allowed(acl.ResourceService, svc.Service, acl.AccessWrite) {
			return deny(acl.ResourceService, svc.Service)
		}
		sid := svc.Id
		if sid == "" {
			sid = svc.Service
		}
		if old, ok := serviceName[sid]; ok && old != svc.Service && !z.Allowed(acl.ResourceService, old, acl.AccessWrite) {
			return deny(acl.ResourceService, old)
		}
		serviceName[sid] = svc.Service
	}
	for _, c := range req.GetChecks() {
		if c.ServiceId == "" {
			if !z.Allowed(acl.ResourceNode, node, acl.AccessWrite) {
				return deny(acl.ResourceNode, node)
			}
			continue
		}
		name, ok := serviceName[c.ServiceId]
		if !ok {
			name = c.ServiceName
		}
		if !z.Allowed(acl.ResourceService, name, acl.AccessWrite) {
			return deny(acl.ResourceService, name)
		}
	}
	return nil
}

// nodeChanges reports whether registering n would create or change the
// stored node.
func nodeChanges(stored, n *pb.Node) bool {
	if stored == nil {
		return true
	}
	return (n.Id != "" && n.Id != stored.Id) || n.Address != stored.Address ||
		!maps.Equal(n.TaggedAddresses, stored.TaggedAddresses) || !maps.Equal(n.Meta, stored.Meta)
}

// deregisterAllowed: service write to remove a service or one of its
// checks, node write to remove a node check or the node.
func (s *Server) deregisterAllowed(ctx context.Context, req *pb.DeregisterRequest) error {
	if !s.cfg.ACL.Enabled {
		return nil
	}
	token := req.GetWrite().GetToken()
	serviceOf := func(id string) (string, bool) {
		_, _, services, err := s.store.NodeServices(nil, req.Node)
		if err != nil {
			return "", false
		}
		for _, svc := range services {
			if svc.Id == id {
				return svc.Service, true
			}
		}
		return "", false
	}
	switch {
	case req.ServiceId != "":
		if name, ok := serviceOf(req.ServiceId); ok {
			return s.need(ctx, token, acl.ResourceService, acl.AccessWrite, name)
		}
	case req.CheckId != "":
		_, checks, err := s.store.NodeChecks(nil, req.Node)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckId == req.CheckId && c.ServiceId != "" {
				return s.need(ctx, token, acl.ResourceService, acl.AccessWrite, c.ServiceName)
			}
		}
	}
	return s.need(ctx, token, acl.ResourceNode, acl.AccessWrite, req.Node)
}

// sessionWriteAllowed needs session write on the node of session id
// (on "" when there is no such session: only a token that may write
// every node's sessions gets the not-found answer).
func (s *Server) sessionWriteAllowed(ctx context.Context, token, id string) error {
	if !s.cfg.ACL.Enabled {
		return nil
	}
	_, sess, err := s.store.Session(nil, id)
	if err != nil {
		return err
	}
	return s.need(ctx, token, acl.ResourceSession, acl.AccessWrite, sess.GetNode())
}

// queryWriteAllowed needs query write on the query's new name and, for
// an update or delete, on the stored query's name (Consul's rules); a
// query without a name needs acl write (in Consul, a management token).
func (s *Server) queryWriteAllowed(ctx context.Context, req *pb.PreparedQueryApplyRequest) error {
	if !s.cfg.ACL.Enabled {
		return nil
	}
	token := req.GetWrite().GetToken()
	check := func(name string) error {
		if name == "" {
			return s.need(ctx, token, acl.ResourceACL, acl.AccessWrite, "")
		}
		return s.need(ctx, token, acl.ResourceQuery, acl.AccessWrite, name)
	}
	if req.Op != pb.PreparedQueryOp_PREPARED_QUERY_DELETE {
		if err := check(req.GetQuery().GetName()); err != nil {
			return err
		}
	}
	if req.Op == pb.PreparedQueryOp_PREPARED_QUERY_CREATE {
		return nil
	}
	_, old, err := s.store.PreparedQuery(nil, req.GetQuery().GetId())
	if err != nil || old == nil {
		return err
	}
	return check(old.Name)
}

// queryReadable: query read on its name; an unnamed query only for a
// token that may write ACLs (Consul: management).
func queryReadable(z *acl.Authorizer, q *pb.PreparedQuery) bool {
	if q.GetName() == "" {
		return z.Allowed(acl.ResourceACL, "", acl.AccessWrite)
	}
	return z.Allowed(acl.ResourceQuery, q.GetName(), acl.AccessRead)
}

// redactQueryTokens hides each query's stored token from a caller that
// may not write ACLs, as Consul does.
func redactQueryTokens(z *acl.Authorizer, qs []*pb.PreparedQuery) []*pb.PreparedQuery {
	if z.Allowed(acl.ResourceACL, "", acl.AccessWrite) {
		return qs
	}
	out := qs
	for i, q := range qs {
		if q.Token == "" {
			continue
		}
		if &out[0] == &qs[0] {
			out = append([]*pb.PreparedQuery(nil), qs...)
		}
		c := proto.Clone(q).(*pb.PreparedQuery)
		c.Token = "<hidden>"
		out[i] = c
	}
	return out
}

// filterExecuted drops the instances the executing token may not read
// (node read and service read): the query's own token when it has one,
// else the caller's.
func (s *Server) filterExecuted(ctx context.Context, q *pb.PreparedQuery, callerToken string, resp *pb.PreparedQueryExecuteResponse) error {
	token := callerToken
	if q.GetToken() != "" {
		token = q.GetToken()
	}
	id, on, err := s.queryIdentity(ctx, token)
	if !on || err != nil {
		return err
	}
	var removed bool
	resp.Nodes, removed = keep(resp.Nodes, func(in *pb.ServiceInstance) bool { return instanceReadable(id.Authorizer, in) })
	if removed && resp.Meta != nil {
		resp.Meta.ResultsFilteredByAcls = true
	}
	return nil
}

// keyReadPrefix reports whether every key under prefix may be read:
// the rule governing prefix grants read and none under it denies.
func keyReadPrefix(z *acl.Authorizer, prefix string) bool {
	return z.KeyReadPrefix(prefix)
}

// kvChangesAllowed: the replicating leader's token (acl.tokens.
// replication) must read every key under each prefix it follows.
func (s *Server) kvChangesAllowed(ctx context.Context, req *pb.KVChangesRequest) error {
	if !s.cfg.ACL.Enabled {
		return nil
	}
	id, err := s.ResolveToken(ctx, req.Query.GetToken())
	if err != nil {
		return err
	}
	for _, p := range req.Prefixes {
		if !id.Authorizer.KeyReadPrefix(p) {
			return PermissionDenied(id.AccessorID, acl.ResourceKey, acl.AccessRead, p)
		}
	}
	return nil
}

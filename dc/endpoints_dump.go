package dc

import (
	"context"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/store"
)

// catalogDump answers with every node, service instance and check of the
// datacenter (nodes filtered by node meta), blocking until any of them
// changes past the query's index.
func (s *Server) catalogDump(ctx context.Context, req *pb.CatalogDumpRequest, resp *pb.CatalogDumpResponse) error {
	q := req.GetQ()
	if done, err := s.forwardQuery(ctx, MethodCatalogDump, q.GetQuery(), req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, q.GetQuery().GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, q.GetQuery(), resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		idx, nodes, services, checks, err := s.store.CatalogDump(ws)
		if err != nil {
			return 0, err
		}
		resp.Nodes, resp.Services, resp.Checks = nodes, services, checks
		if meta := q.GetNodeMeta(); len(meta) > 0 {
			keep := map[string]bool{}
			resp.Nodes = resp.Nodes[:0:0]
			for _, n := range nodes {
				if store.MetaMatches(n.Meta, meta) {
					resp.Nodes = append(resp.Nodes, n)
					keep[strings.ToLower(n.Node)] = true
				}
			}
			resp.Services = resp.Services[:0:0]
			for _, svc := range services {
				if keep[strings.ToLower(svc.Node)] {
					resp.Services = append(resp.Services, svc)
				}
			}
			resp.Checks = resp.Checks[:0:0]
			for _, c := range checks {
				if keep[strings.ToLower(c.Node)] {
					resp.Checks = append(resp.Checks, c)
				}
			}
		}
		if filter {
			z := id.Authorizer
			var a, b, c bool
			resp.Nodes, a = keep(resp.Nodes, func(n *pb.Node) bool { return nodeReadable(z, n.Node) })
			resp.Services, b = keep(resp.Services, func(svc *pb.Service) bool {
				return nodeReadable(z, svc.Node) && serviceReadable(z, svc.Service)
			})
			resp.Checks, c = keep(resp.Checks, func(hc *pb.HealthCheck) bool { return checkReadable(z, hc) })
			resp.Meta.ResultsFilteredByAcls = a || b || c
		}
		return idx, nil
	})
}

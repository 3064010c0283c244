package agent

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/go-bexpr"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// catalogQuery reads the parameters of catalog and health list reads.
func (a *Agent) catalogQuery(r *http.Request) (*pb.CatalogQuery, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	params := query(r)
	cq := &pb.CatalogQuery{Query: q, Near: params.Get("near"), Filter: params.Get("filter")}
	for _, kv := range params["node-meta"] {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return nil, badRequest("Invalid node-meta %q: want key:value", kv)
		}
		if cq.NodeMeta == nil {
			cq.NodeMeta = map[string]string{}
		}
		cq.NodeMeta[k] = v
	}
	if cq.Near == "_agent" {
		cq.Near = a.cfg.NodeName
	}
	return cq, nil
}

// applyFilter evaluates a Consul filter expression over a slice or map of
// the API's JSON shapes (selectors use Consul's field names).
func applyFilter[T any](expr string, in T) (T, error) {
	if expr == "" {
		return in, nil
	}
	f, err := bexpr.CreateFilter(expr)
	if err != nil {
		var zero T
		return zero, badRequest("Failed to create boolean expression evaluator: %v", err)
	}
	out, err := f.Execute(in)
	if err != nil {
		var zero T
		return zero, badRequest("Failed to execute filter: %v", err)
	}
	return out.(T), nil
}

func (a *Agent) catalogQueryMeta(w http.ResponseWriter, m *pb.QueryMeta) {
	setMeta(w, m)
	setConsistency(w, m.GetConsistency())
}

// catalogRegistrationJSON is Consul's CatalogRegistration.
type catalogRegistrationJSON struct {
	ID              string
	Node            string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Datacenter      string
	Service         *serviceInJSON
	Check           *healthCheckInJSON
	Checks          []*healthCheckInJSON
	SkipNodeUpdate  bool
}

// serviceInJSON is an AgentService as the catalog takes it.
type serviceInJSON struct {
	Kind              string
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]serviceAddressJSON
	Weights           *weightsJSON
	EnableTagOverride bool
}

type healthCheckInJSON struct {
	Node       string
	CheckID    string
	Name       string
	Status     string
	Notes      string
	Output     string
	ServiceID  string
	Type       string
	Definition checkDefinitionJSON
}

func (s *serviceInJSON) toPB() *pb.Service {
	out := &pb.Service{
		Kind: s.Kind, Id: s.ID, Service: s.Service, Tags: s.Tags, Meta: s.Meta, Port: int32(s.Port),
		Address: s.Address, EnableTagOverride: s.EnableTagOverride,
	}
	if s.Weights != nil {
		out.Weights = &pb.Weights{Passing: int32(s.Weights.Passing), Warning: int32(s.Weights.Warning)}
	}
	if len(s.TaggedAddresses) > 0 {
		out.TaggedAddresses = map[string]*pb.ServiceAddress{}
		for k, v := range s.TaggedAddresses {
			out.TaggedAddresses[k] = &pb.ServiceAddress{Address: v.Address, Port: int32(v.Port)}
		}
	}
	return out
}

func (c *healthCheckInJSON) toPB(node string) *pb.HealthCheck {
	id := c.CheckID
	if id == "" {
		id = c.Name
	}
	n := c.Node
	if n == "" {
		n = node
	}
	return &pb.HealthCheck{
		Node: n, CheckId: id, Name: c.Name, Status: c.Status, Notes: c.Notes, Output: c.Output,
		ServiceId: c.ServiceID, Type: c.Type, Definition: fromDefinitionJSON(c.Definition),
	}
}

func decodeJSONBody(r *http.Request, limit int, v any) error {
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	return nil
}

// maxJSONBody bounds the JSON bodies of catalog and agent endpoints.
const maxJSONBody = 1 << 20

func (a *Agent) catalogRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var in catalogRegistrationJSON
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	if in.Datacenter != "" && wo.Dc == "" {
		wo.Dc = in.Datacenter
		if err := a.checkDC(wo.Dc); err != nil {
			return nil, err
		}
	}
	if err := a.allowed(r, acl.ResourceNode, acl.AccessWrite, in.Node); err != nil {
		return nil, err
	}
	if in.Service != nil {
		if err := a.allowed(r, acl.ResourceService, acl.AccessWrite, in.Service.Service); err != nil {
			return nil, err
		}
	}
	req := &pb.RegisterRequest{
		Write: wo,
		Node: &pb.Node{Id: in.ID, Node: in.Node, Address: in.Address, Datacenter: a.cfg.Datacenter,
			TaggedAddresses: in.TaggedAddresses, Meta: in.NodeMeta},
		SkipNodeUpdate: in.SkipNodeUpdate,
	}
	if in.Service != nil {
		req.Service = in.Service.toPB()
	}
	if in.Check != nil {
		req.Checks = append(req.Checks, in.Check.toPB(in.Node))
	}
	for _, c := range in.Checks {
		if c != nil {
			req.Checks = append(req.Checks, c.toPB(in.Node))
		}
	}
	if err := a.backend.RPC(r.Context(), dc.MethodCatalogRegister, req, &pb.WriteResponse{}); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) catalogDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct {
		Datacenter, Node, ServiceID, CheckID string
	}
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	if in.Datacenter != "" && wo.Dc == "" {
		wo.Dc = in.Datacenter
		if err := a.checkDC(wo.Dc); err != nil {
			return nil, err
		}
	}
	if err := a.allowed(r, acl.ResourceNode, acl.AccessWrite, in.Node); err != nil {
		return nil, err
	}
	req := &pb.DeregisterRequest{Write: wo, Node: in.Node, ServiceId: in.ServiceID, CheckId: in.CheckID}
	if err := a.backend.RPC(r.Context(), dc.MethodCatalogDeregister, req, &pb.WriteResponse{}); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) catalogDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	var resp pb.DatacentersResponse
	if err := a.backend.RPC(r.Context(), dc.MethodCatalogDatacenters, &pb.DatacentersRequest{}, &resp); err != nil {
		return nil, err
	}
	return nonNil(resp.Datacenters), nil
}

func (a *Agent) catalogNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	r, all := withoutAllDC(r)
	cq, err := a.catalogQuery(r)
	if err != nil {
		return nil, err
	}
	read := func(ctx context.Context, cq *pb.CatalogQuery) ([]nodeJSON, *pb.QueryMeta, error) {
		var resp pb.NodesResponse
		if err := a.backend.RPC(ctx, dc.MethodCatalogNodes, &pb.NodesRequest{Q: cq}, &resp); err != nil {
			return nil, nil, err
		}
		out := make([]nodeJSON, 0, len(resp.Nodes))
		for _, n := range resp.Nodes {
			out = append(out, toNodeJSON(n))
		}
		sortNear(ctx, a, cq, out, func(n nodeJSON) string { return n.Node })
		out, err := applyFilter(cq.Filter, out)
		return out, resp.Meta, err
	}
	if all {
		return allDCList(a, w, r, cq, read, func(n *nodeJSON, dc string) { n.Datacenter = dc })
	}
	return answer(a, w, r, cq, read)
}

// answer runs a single-datacenter read and writes its headers.
func answer[T any](a *Agent, w http.ResponseWriter, r *http.Request, cq *pb.CatalogQuery, read dcRead[T]) (any, error) {
	out, meta, err := read(r.Context(), cq)
	if err != nil {
		return nil, err
	}
	a.catalogQueryMeta(w, meta)
	return out, nil
}

func (a *Agent) catalogServices(w http.ResponseWriter, r *http.Request) (any, error) {
	r, all := withoutAllDC(r)
	cq, err := a.catalogQuery(r)
	if err != nil {
		return nil, err
	}
	// A filter applies to the service instances, as in Consul: the
	// servers send every instance and the answer keeps the names and tags
	// of those that match.
	filtered := cq.Filter != ""
	read := func(ctx context.Context, cq *pb.CatalogQuery) (map[string][]string, *pb.QueryMeta, error) {
		var resp pb.ServicesResponse
		if err := a.backend.RPC(ctx, dc.MethodCatalogServices, &pb.ServicesRequest{Q: cq, WithInstances: filtered}, &resp); err != nil {
			return nil, nil, err
		}
		if filtered && len(resp.Instances) == 0 && len(resp.Services) > 0 {
			// A server of an older version ignored with_instances.
			return nil, nil, &httpError{code: http.StatusInternalServerError, msg: "?filter= on /v1/catalog/services needs every server upgraded"}
		}
		if filtered {
			out, err := servicesMatching(cq.Filter, resp.Instances)
			return out, resp.Meta, err
		}
		out := make(map[string][]string, len(resp.Services))
		for name, tags := range resp.Services {
			out[name] = nonNil(tags.GetTags())
		}
		return out, resp.Meta, nil
	}
	if all {
		return allDCServices(a, w, r, cq, read)
	}
	return answer(a, w, r, cq, read)
}

// servicesMatching evaluates a filter over instances in the shape of
// /v1/catalog/service (Consul's ServiceNode: ServiceName, ServiceTags,
// ServiceMeta, Node, NodeMeta, ...) and maps the name of each service with
// a matching instance to the sorted union of those instances' tags.
func servicesMatching(filter string, instances []*pb.ServiceInstance) (map[string][]string, error) {
	all := make([]catalogServiceJSON, 0, len(instances))
	for _, inst := range instances {
		all = append(all, toCatalogServiceJSON(inst.Node, inst.Service))
	}
	matching, err := applyFilter(filter, all)
	if err != nil {
		return nil, err
	}
	tags := map[string]map[string]bool{}
	for _, s := range matching {
		if tags[s.ServiceName] == nil {
			tags[s.ServiceName] = map[string]bool{}
		}
		for _, t := range s.ServiceTags {
			tags[s.ServiceName][t] = true
		}
	}
	out := make(map[string][]string, len(tags))
	for name, set := range tags {
		out[name] = nonNil(slices.Sorted(maps.Keys(set)))
	}
	return out, nil
}

// serviceInstances parses a read of one service's instances and returns
// the query and a reader of one datacenter's instances.
func (a *Agent) serviceInstances(r *http.Request, withChecks bool) (*pb.CatalogQuery, dcRead[*pb.ServiceNodesResponse], error) {
	cq, err := a.catalogQuery(r)
	if err != nil {
		return nil, nil, err
	}
	params := query(r)
	req := &pb.ServiceNodesRequest{Service: r.PathValue("service"), Tags: params["tag"], WithChecks: withChecks}
	if v, ok := params["passing"]; ok {
		switch strings.ToLower(strings.Join(v, "")) {
		case "", "1", "true", "t":
			req.PassingOnly = true
		case "0", "false", "f":
		default:
			return nil, nil, badRequest("Invalid value for ?passing")
		}
	}
	return cq, func(ctx context.Context, cq *pb.CatalogQuery) (*pb.ServiceNodesResponse, *pb.QueryMeta, error) {
		dcReq := proto.Clone(req).(*pb.ServiceNodesRequest)
		dcReq.Q = cq
		var resp pb.ServiceNodesResponse
		if err := a.backend.RPC(ctx, dc.MethodCatalogServiceNodes, dcReq, &resp); err != nil {
			return nil, nil, err
		}
		return &resp, resp.Meta, nil
	}, nil
}

func (a *Agent) catalogService(w http.ResponseWriter, r *http.Request) (any, error) {
	r, all := withoutAllDC(r)
	cq, instances, err := a.serviceInstances(r, false)
	if err != nil {
		return nil, err
	}
	read := func(ctx context.Context, cq *pb.CatalogQuery) ([]catalogServiceJSON, *pb.QueryMeta, error) {
		resp, meta, err := instances(ctx, cq)
		if err != nil {
			return nil, nil, err
		}
		out := make([]catalogServiceJSON, 0, len(resp.Instances))
		for _, inst := range resp.Instances {
			out = append(out, toCatalogServiceJSON(inst.Node, inst.Service))
		}
		sortNear(ctx, a, cq, out, func(s catalogServiceJSON) string { return s.Node })
		out, err = applyFilter(cq.Filter, out)
		return out, meta, err
	}
	if all {
		return allDCList(a, w, r, cq, read, func(s *catalogServiceJSON, dc string) { s.Datacenter = dc })
	}
	return answer(a, w, r, cq, read)
}

func (a *Agent) catalogNode(w http.ResponseWriter, r *http.Request) (any, error) {
	resp, cq, err := a.nodeServices(r)
	if err != nil {
		return nil, err
	}
	a.catalogQueryMeta(w, resp.Meta)
	if resp.Node == nil {
		return json.RawMessage("null"), nil
	}
	services := map[string]agentServiceJSON{}
	for _, s := range resp.Services {
		services[s.Id] = toAgentServiceJSON(s, "")
	}
	services, err = applyFilter(cq.Filter, services)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Node": toNodeJSON(resp.Node), "Services": services}, nil
}

func (a *Agent) catalogNodeServices(w http.ResponseWriter, r *http.Request) (any, error) {
	resp, cq, err := a.nodeServices(r)
	if err != nil {
		return nil, err
	}
	a.catalogQueryMeta(w, resp.Meta)
	if resp.Node == nil {
		return nil, &httpError{code: http.StatusNotFound, msg: "Node not found"}
	}
	services := make([]agentServiceJSON, 0, len(resp.Services))
	for _, s := range resp.Services {
		services = append(services, toAgentServiceJSON(s, ""))
	}
	services, err = applyFilter(cq.Filter, services)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Node": toNodeJSON(resp.Node), "Services": services}, nil
}

func (a *Agent) nodeServices(r *http.Request) (*pb.NodeServicesResponse, *pb.CatalogQuery, error) {
	cq, err := a.catalogQuery(r)
	if err != nil {
		return nil, nil, err
	}
	var resp pb.NodeServicesResponse
	req := &pb.NodeServicesRequest{Q: cq, Node: r.PathValue("node")}
	if err := a.backend.RPC(r.Context(), dc.MethodCatalogNodeServices, req, &resp); err != nil {
		return nil, nil, err
	}
	return &resp, cq, nil
}

func (a *Agent) healthChecks(w http.ResponseWriter, r *http.Request, req *pb.ChecksRequest) (any, error) {
	r, all := withoutAllDC(r)
	cq, err := a.catalogQuery(r)
	if err != nil {
		return nil, err
	}
	read := func(ctx context.Context, cq *pb.CatalogQuery) ([]healthCheckJSON, *pb.QueryMeta, error) {
		dcReq := proto.Clone(req).(*pb.ChecksRequest)
		dcReq.Q = cq
		var resp pb.ChecksResponse
		if err := a.backend.RPC(ctx, dc.MethodHealthChecks, dcReq, &resp); err != nil {
			return nil, nil, err
		}
		checks := toHealthChecksJSON(resp.Checks)
		sortNear(ctx, a, cq, checks, func(c healthCheckJSON) string { return c.Node })
		checks, err := applyFilter(cq.Filter, checks)
		return checks, resp.Meta, err
	}
	if all {
		// Consul's HealthCheck has no Datacenter: these answers add one.
		stamped := func(ctx context.Context, cq *pb.CatalogQuery) ([]dcHealthCheckJSON, *pb.QueryMeta, error) {
			checks, meta, err := read(ctx, cq)
			out := make([]dcHealthCheckJSON, 0, len(checks))
			for _, c := range checks {
				out = append(out, dcHealthCheckJSON{healthCheckJSON: c})
			}
			return out, meta, err
		}
		return allDCList(a, w, r, cq, stamped, func(c *dcHealthCheckJSON, dc string) { c.Datacenter = dc })
	}
	return answer(a, w, r, cq, read)
}

func (a *Agent) healthNode(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.healthChecks(w, r, &pb.ChecksRequest{Node: r.PathValue("node")})
}

func (a *Agent) healthServiceChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.healthChecks(w, r, &pb.ChecksRequest{Service: r.PathValue("service")})
}

func (a *Agent) healthState(w http.ResponseWriter, r *http.Request) (any, error) {
	state := r.PathValue("state")
	switch state {
	case "any", "passing", "warning", "critical":
	default:
		return nil, badRequest("Invalid check state %q: want any, passing, warning or critical", state)
	}
	return a.healthChecks(w, r, &pb.ChecksRequest{State: state})
}

func (a *Agent) healthService(w http.ResponseWriter, r *http.Request) (any, error) {
	r, all := withoutAllDC(r)
	cq, instances, err := a.serviceInstances(r, true)
	if err != nil {
		return nil, err
	}
	shape := func(ctx context.Context, cq *pb.CatalogQuery, resp *pb.ServiceNodesResponse) ([]serviceEntryJSON, error) {
		out := make([]serviceEntryJSON, 0, len(resp.Instances))
		for _, inst := range resp.Instances {
			checks := toHealthChecksJSON(inst.Checks)
			sort.SliceStable(checks, func(i, j int) bool { return checks[i].ServiceID < checks[j].ServiceID })
			out = append(out, serviceEntryJSON{
				Node: toNodeJSON(inst.Node), Service: toAgentServiceJSON(inst.Service, ""), Checks: checks,
			})
		}
		sortNear(ctx, a, cq, out, func(e serviceEntryJSON) string { return e.Node.Node })
		return applyFilter(cq.Filter, out)
	}
	read := func(ctx context.Context, cq *pb.CatalogQuery) ([]serviceEntryJSON, *pb.QueryMeta, error) {
		resp, meta, err := instances(ctx, cq)
		if err != nil {
			return nil, nil, err
		}
		out, err := shape(ctx, cq, resp)
		return out, meta, err
	}
	w.Header().Set("X-Consul-Query-Backend", "blocking-query")
	if _, pretty := query(r)["pretty"]; a.server != nil && !all && !pretty && cq.Near == "" {
		// One encoding shared by the readers of an unchanged service.
		resp, meta, err := instances(r.Context(), cq)
		if err != nil {
			return nil, err
		}
		key := "health\x00" + r.URL.Path + "\x00" + strings.Join(query(r)["tag"], "\x00") + "\x00" + cq.Filter
		body, err := a.encoded.answer(key, resp.Instances, func() (any, error) { return shape(r.Context(), cq, resp) })
		if err != nil {
			return nil, err
		}
		a.catalogQueryMeta(w, meta)
		return body, nil
	}
	if all {
		return allDCList(a, w, r, cq, read, func(e *serviceEntryJSON, dc string) { e.Node.Datacenter = dc })
	}
	return answer(a, w, r, cq, read)
}

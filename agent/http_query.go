package agent

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// The JSON shapes of Consul's /v1/query API. Fields the official client
// sends that Meridian has no use for (namespaces, partitions, peers,
// Connect) are accepted when empty or default and refused otherwise;
// any other unknown field is a 400.

type queryFailoverTargetJSON struct {
	Peer       string
	Datacenter string
	Partition  string
	Namespace  string
}

type queryFailoverJSON struct {
	NearestN    int
	Datacenters []string
	Targets     []queryFailoverTargetJSON `json:",omitempty"`
}

type serviceQueryJSON struct {
	Service        string
	SamenessGroup  string `json:",omitempty"`
	Namespace      string `json:",omitempty"`
	Partition      string `json:",omitempty"`
	Peer           string `json:",omitempty"`
	Near           string
	Failover       queryFailoverJSON
	IgnoreCheckIDs []string
	OnlyPassing    bool
	Tags           []string
	NodeMeta       map[string]string
	ServiceMeta    map[string]string
	Connect        bool
}

type queryTemplateJSON struct {
	Type            string
	Regexp          string
	RemoveEmptyTags bool
}

type queryDNSJSON struct {
	TTL string
}

type preparedQueryJSON struct {
	ID          string
	Name        string
	Session     string
	Token       string
	Template    queryTemplateJSON
	Service     serviceQueryJSON
	DNS         queryDNSJSON
	CreateIndex uint64
	ModifyIndex uint64
}

type queryExecuteJSON struct {
	Service    string
	Nodes      []serviceEntryJSON
	DNS        queryDNSJSON
	Datacenter string
	Failovers  int
}

type queryExplainJSON struct {
	Query preparedQueryJSON
}

// decodePreparedQuery reads a query definition, refusing unknown fields
// and the features Meridian does not have.
func decodePreparedQuery(r *http.Request) (*pb.PreparedQuery, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var in preparedQueryJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, badRequest("Request decode failed: %v", err)
	}
	if dec.More() {
		return nil, badRequest("Request decode failed: data after the query definition")
	}
	s := in.Service
	switch {
	case s.Connect:
		return nil, badRequest("Service.Connect is not supported")
	case s.Peer != "" || s.SamenessGroup != "":
		return nil, badRequest("Service.Peer and Service.SamenessGroup are not supported")
	case !defaultTenancy(s.Namespace) || !defaultTenancy(s.Partition):
		return nil, badRequest("Service.Namespace and Service.Partition must be empty or \"default\"")
	}
	dcs := append([]string(nil), s.Failover.Datacenters...)
	if slices.Contains(dcs, "") {
		return nil, badRequest("Failover.Datacenters holds an empty name")
	}
	for _, t := range s.Failover.Targets {
		if t.Peer != "" || t.Datacenter == "" || !defaultTenancy(t.Namespace) || !defaultTenancy(t.Partition) {
			return nil, badRequest("Failover.Targets may only name datacenters")
		}
		dcs = append(dcs, t.Datacenter)
	}
	q := &pb.PreparedQuery{
		Id: in.ID, Name: in.Name, Session: in.Session, Token: in.Token,
		Service: &pb.ServiceQuery{
			Service: s.Service, Tags: s.Tags, OnlyPassing: s.OnlyPassing, Near: s.Near,
			NodeMeta: s.NodeMeta, ServiceMeta: s.ServiceMeta, IgnoreCheckIds: s.IgnoreCheckIDs,
		},
	}
	if s.Failover.NearestN != 0 || len(dcs) > 0 {
		q.Service.Failover = &pb.QueryFailover{NearestN: int32(s.Failover.NearestN), Datacenters: dcs}
		if int(q.Service.Failover.NearestN) != s.Failover.NearestN {
			return nil, badRequest("Bad NearestN '%d'", s.Failover.NearestN)
		}
	}
	if t := in.Template; t != (queryTemplateJSON{}) {
		q.Template = &pb.QueryTemplate{Type: t.Type, Regexp: t.Regexp, RemoveEmptyTags: t.RemoveEmptyTags}
	}
	if in.DNS.TTL != "" {
		q.Dns = &pb.QueryDNS{Ttl: in.DNS.TTL}
	}
	return q, nil
}

func defaultTenancy(s string) bool { return s == "" || s == "default" }

func toPreparedQueryJSON(q *pb.PreparedQuery) preparedQueryJSON {
	s := q.GetService()
	f := s.GetFailover()
	out := preparedQueryJSON{
		ID: q.Id, Name: q.Name, Session: q.Session, Token: q.Token,
		Service: serviceQueryJSON{
			Service: s.GetService(), Near: s.GetNear(), OnlyPassing: s.GetOnlyPassing(),
			Tags: nonNil(s.GetTags()), IgnoreCheckIDs: nonNil(s.GetIgnoreCheckIds()),
			NodeMeta: emptyIfNil(s.GetNodeMeta()), ServiceMeta: emptyIfNil(s.GetServiceMeta()),
			Failover: queryFailoverJSON{NearestN: int(f.GetNearestN()), Datacenters: nonNil(f.GetDatacenters())},
		},
		DNS:         queryDNSJSON{TTL: q.GetDns().GetTtl()},
		CreateIndex: q.CreateIndex, ModifyIndex: q.ModifyIndex,
	}
	if t := q.GetTemplate(); t != nil {
		out.Template = queryTemplateJSON{Type: t.Type, Regexp: t.Regexp, RemoveEmptyTags: t.RemoveEmptyTags}
	}
	return out
}

func (a *Agent) queryCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	q, err := decodePreparedQuery(r)
	if err != nil {
		return nil, err
	}
	q.Id = ""
	if err := a.allowed(r, acl.ResourceQuery, acl.AccessWrite, q.Name); err != nil {
		return nil, err
	}
	var resp pb.PreparedQueryApplyResponse
	req := &pb.PreparedQueryApplyRequest{Write: wo, Op: pb.PreparedQueryOp_PREPARED_QUERY_CREATE, Query: q}
	if err := a.backend.RPC(r.Context(), dc.MethodPreparedQueryApply, req, &resp); err != nil {
		return nil, err
	}
	return map[string]string{"ID": resp.Id}, nil
}

func (a *Agent) queryUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	q, err := decodePreparedQuery(r)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if q.Id != "" && q.Id != id {
		return nil, badRequest("Query ID %q in the body does not match %q in the path", q.Id, id)
	}
	q.Id = id
	req := &pb.PreparedQueryApplyRequest{Write: wo, Op: pb.PreparedQueryOp_PREPARED_QUERY_UPDATE, Query: q}
	return nil, a.backend.RPC(r.Context(), dc.MethodPreparedQueryApply, req, &pb.PreparedQueryApplyResponse{})
}

func (a *Agent) queryDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	req := &pb.PreparedQueryApplyRequest{Write: wo, Op: pb.PreparedQueryOp_PREPARED_QUERY_DELETE, Query: &pb.PreparedQuery{Id: r.PathValue("id")}}
	return nil, a.backend.RPC(r.Context(), dc.MethodPreparedQueryApply, req, &pb.PreparedQueryApplyResponse{})
}

func (a *Agent) queryRead(w http.ResponseWriter, r *http.Request, id string) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.PreparedQueriesResponse
	if err := a.backend.RPC(r.Context(), dc.MethodPreparedQueryGet, &pb.PreparedQueryGetRequest{Query: q, Id: id}, &resp); err != nil {
		return nil, err
	}
	setMeta(w, resp.Meta)
	out := make([]preparedQueryJSON, 0, len(resp.Queries))
	for _, q := range resp.Queries {
		out = append(out, toPreparedQueryJSON(q))
	}
	return out, nil
}

func (a *Agent) queryList(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.queryRead(w, r, "")
}

func (a *Agent) queryGet(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.queryRead(w, r, r.PathValue("id"))
}

// queryExecuteRequest builds an execution of the query named in the path
// for this agent: ?near= (with _agent resolved to this agent's node),
// ?limit=, and the client's address for _ip.
func (a *Agent) queryExecuteRequest(r *http.Request, explain bool) (*pb.PreparedQueryExecuteRequest, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	params := query(r)
	req := &pb.PreparedQueryExecuteRequest{
		Query: q, QueryIdOrName: r.PathValue("id"), Explain: explain,
		SourceNode: a.cfg.NodeName, Near: params.Get("near"),
	}
	if v := params.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, badRequest("Bad limit: %q", v)
		}
		req.Limit = int32(n)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.SourceIp = host
	}
	if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
		req.SourceIp = strings.TrimSpace(strings.Split(fwd, ",")[0])
	}
	return req, nil
}

func (a *Agent) queryExecute(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := a.queryExecuteRequest(r, false)
	if err != nil {
		return nil, err
	}
	var resp pb.PreparedQueryExecuteResponse
	if err := a.backend.RPC(r.Context(), dc.MethodPreparedQueryExecute, req, &resp); err != nil {
		return nil, err
	}
	setMeta(w, resp.Meta)
	out := queryExecuteJSON{
		Service: resp.Service, DNS: queryDNSJSON{TTL: resp.GetDns().GetTtl()},
		Datacenter: resp.Datacenter, Failovers: int(resp.Failovers),
		Nodes: make([]serviceEntryJSON, 0, len(resp.Nodes)),
	}
	for _, in := range resp.Nodes {
		out.Nodes = append(out.Nodes, serviceEntryJSON{
			Node: toNodeJSON(in.Node), Service: toAgentServiceJSON(in.Service, ""), Checks: toHealthChecksJSON(in.Checks),
		})
	}
	return out, nil
}

func (a *Agent) queryExplain(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := a.queryExecuteRequest(r, true)
	if err != nil {
		return nil, err
	}
	var resp pb.PreparedQueryExecuteResponse
	if err := a.backend.RPC(r.Context(), dc.MethodPreparedQueryExecute, req, &resp); err != nil {
		return nil, err
	}
	setMeta(w, resp.Meta)
	return queryExplainJSON{Query: toPreparedQueryJSON(resp.Query)}, nil
}

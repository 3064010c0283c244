package dc

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
	"github.com/meridian-io/meridian/wan"
)

// registerInstance registers node with one instance of service, its check
// in status.
func registerInstance(t *testing.T, ts *testServer, node, addr, service, status string, tags ...string) {
	t.Helper()
	req := &pb.RegisterRequest{
		Node:    &pb.Node{Node: node, Address: addr, Meta: map[string]string{"rack": node}},
		Service: &pb.Service{Id: service + "-" + node, Service: service, Port: 8080, Tags: tags},
		Checks:  []*pb.HealthCheck{{CheckId: "svc:" + service, Status: status, ServiceId: service + "-" + node}},
	}
	if err := call(ts, MethodCatalogRegister, req, &pb.WriteResponse{}); err != nil {
		t.Fatal(err)
	}
}

func createQuery(t *testing.T, ts *testServer, q *pb.PreparedQuery) string {
	t.Helper()
	var resp pb.PreparedQueryApplyResponse
	if err := call(ts, MethodPreparedQueryApply, &pb.PreparedQueryApplyRequest{Op: pb.PreparedQueryOp_PREPARED_QUERY_CREATE, Query: q}, &resp); err != nil {
		t.Fatalf("create %v: %v", q, err)
	}
	return resp.Id
}

func execute(t *testing.T, ts *testServer, req *pb.PreparedQueryExecuteRequest) *pb.PreparedQueryExecuteResponse {
	t.Helper()
	var resp pb.PreparedQueryExecuteResponse
	if err := call(ts, MethodPreparedQueryExecute, req, &resp); err != nil {
		t.Fatalf("execute %q: %v", req.QueryIdOrName, err)
	}
	return &resp
}

func nodeNames(insts []*pb.ServiceInstance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.Node.Node)
	}
	slices.Sort(out)
	return out
}

// A query whose service has no healthy local instance answers with the
// nearest datacenter that has some, and says which and how many it tried.
func TestPreparedQueryFailover(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		router := &fakeRouter{servers: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: router})
		dc2 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc2", subnet: 2, net: dc1.net})
		dc3 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc3", subnet: 3, net: dc1.net})
		l1, l2, l3 := dc1.waitLeader(), dc2.waitLeader(), dc3.waitLeader()
		router.set("dc2", wan.Server{Name: "s1.dc2", Addr: l2.addr, Datacenter: "dc2"})
		router.set("dc3", wan.Server{Name: "s1.dc3", Addr: l3.addr, Datacenter: "dc3"})

		registerInstance(t, l1, "a1", "10.1.0.1", "db", store.HealthCritical)
		registerInstance(t, l2, "b1", "10.2.0.1", "db", store.HealthPassing)
		registerInstance(t, l2, "b2", "10.2.0.2", "db", store.HealthWarning)
		registerInstance(t, l3, "c1", "10.3.0.1", "db", store.HealthPassing)
		id := createQuery(t, l1, &pb.PreparedQuery{Name: "db", Service: &pb.ServiceQuery{
			Service: "db", Failover: &pb.QueryFailover{NearestN: 1, Datacenters: []string{"dc3", "dc9"}}}})

		got := execute(t, l1, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "db"})
		if got.Datacenter != "dc2" || got.Failovers != 1 || !slices.Equal(nodeNames(got.Nodes), []string{"b1", "b2"}) {
			t.Fatalf("failover to dc2: dc %s, failovers %d, nodes %v", got.Datacenter, got.Failovers, nodeNames(got.Nodes))
		}
		// only_passing leaves out dc2's warning instance.
		upd := &pb.PreparedQuery{Id: id, Name: "db", Service: &pb.ServiceQuery{Service: "db", OnlyPassing: true,
			Failover: &pb.QueryFailover{NearestN: 1, Datacenters: []string{"dc3", "dc9"}}}}
		if err := call(l1, MethodPreparedQueryApply, &pb.PreparedQueryApplyRequest{Op: pb.PreparedQueryOp_PREPARED_QUERY_UPDATE, Query: upd}, &pb.PreparedQueryApplyResponse{}); err != nil {
			t.Fatal(err)
		}
		got = execute(t, l1, &pb.PreparedQueryExecuteRequest{QueryIdOrName: id})
		if got.Datacenter != "dc2" || !slices.Equal(nodeNames(got.Nodes), []string{"b1"}) {
			t.Fatalf("only passing: dc %s, nodes %v", got.Datacenter, nodeNames(got.Nodes))
		}
		// dc2's turn critical: the named dc3 is next (dc9 is unknown).
		registerInstance(t, l2, "b1", "10.2.0.1", "db", store.HealthCritical)
		got = execute(t, l1, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "db"})
		if got.Datacenter != "dc3" || got.Failovers != 2 || !slices.Equal(nodeNames(got.Nodes), []string{"c1"}) {
			t.Fatalf("failover to dc3: dc %s, failovers %d, nodes %v", got.Datacenter, got.Failovers, nodeNames(got.Nodes))
		}
		// A healthy local instance is answered without any failover.
		registerInstance(t, l1, "a1", "10.1.0.1", "db", store.HealthPassing)
		got = execute(t, l1, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "db"})
		if got.Datacenter != "dc1" || got.Failovers != 0 || !slices.Equal(nodeNames(got.Nodes), []string{"a1"}) {
			t.Fatalf("local: dc %s, failovers %d, nodes %v", got.Datacenter, got.Failovers, nodeNames(got.Nodes))
		}
		// ?dc= runs the query in dc2, where it is not stored.
		var resp pb.PreparedQueryExecuteResponse
		err := call(l1, MethodPreparedQueryExecute, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "db", Query: &pb.QueryOptions{Dc: "dc2"}}, &resp)
		if !errors.Is(err, rpc.ErrNotFound) {
			t.Fatalf("execute in dc2: %v, want not found", err)
		}
		// Every datacenter unhealthy: no instances, every one tried.
		registerInstance(t, l1, "a1", "10.1.0.1", "db", store.HealthCritical)
		registerInstance(t, l3, "c1", "10.3.0.1", "db", store.HealthCritical)
		got = execute(t, l1, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "db"})
		if len(got.Nodes) != 0 || got.Failovers != 2 {
			t.Fatalf("nothing healthy: nodes %v, failovers %d", nodeNames(got.Nodes), got.Failovers)
		}
	})
}

func TestPreparedQueryFiltersAndTemplates(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		l := newTestCluster(t, 1, nil).waitLeader()
		registerInstance(t, l, "n1", "10.0.0.1", "web", store.HealthPassing, "v1", "canary")
		registerInstance(t, l, "n2", "10.0.0.2", "web", store.HealthPassing, "v1")
		registerInstance(t, l, "n3", "10.0.0.3", "web", store.HealthCritical, "v1")
		registerInstance(t, l, "n4", "10.0.0.4", "web-admin", store.HealthPassing)

		createQuery(t, l, &pb.PreparedQuery{Name: "stable", Service: &pb.ServiceQuery{Service: "web", Tags: []string{"V1", "!canary"}}})
		if got := nodeNames(execute(t, l, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "stable"}).Nodes); !slices.Equal(got, []string{"n2"}) {
			t.Fatalf("tags v1 !canary: %v", got)
		}
		createQuery(t, l, &pb.PreparedQuery{Name: "ignoring", Service: &pb.ServiceQuery{Service: "web", IgnoreCheckIds: []string{"svc:web"}, NodeMeta: map[string]string{"rack": "n3"}}})
		if got := nodeNames(execute(t, l, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "ignoring"}).Nodes); !slices.Equal(got, []string{"n3"}) {
			t.Fatalf("ignored check, node meta: %v", got)
		}
		// A template answers every name with its prefix; the regexp's
		// groups and the name's parts fill in the service.
		createQuery(t, l, &pb.PreparedQuery{Name: "geo-", Template: &pb.QueryTemplate{Type: store.TemplateNamePrefixMatch, Regexp: `^geo-(.+?)(-admin)?$`},
			Service: &pb.ServiceQuery{Service: "${match(1)}${match(2)}"}, Dns: &pb.QueryDNS{Ttl: "${name.suffix}"}})
		got := execute(t, l, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "geo-web-admin"})
		if got.Service != "web-admin" || !slices.Equal(nodeNames(got.Nodes), []string{"n4"}) {
			t.Fatalf("template geo-web-admin: service %q, nodes %v", got.Service, nodeNames(got.Nodes))
		}
		var explain pb.PreparedQueryExecuteResponse
		if err := call(l, MethodPreparedQueryExecute, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "geo-web", Explain: true}, &explain); err != nil {
			t.Fatal(err)
		}
		if explain.Query.GetService().GetService() != "web" || explain.Query.GetDns().GetTtl() != "web" || len(explain.Nodes) != 0 {
			t.Fatalf("explain geo-web: %v", explain.Query)
		}
		if got := execute(t, l, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "stable", Limit: 1}); len(got.Nodes) != 1 {
			t.Fatalf("limit 1: %v", nodeNames(got.Nodes))
		}
		err := call(l, MethodPreparedQueryExecute, &pb.PreparedQueryExecuteRequest{QueryIdOrName: "nope"}, &pb.PreparedQueryExecuteResponse{})
		if !errors.Is(err, rpc.ErrNotFound) {
			t.Fatalf("unknown query: %v", err)
		}
	})
}

func TestPreparedQueryValidation(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		l := newTestCluster(t, 1, nil).waitLeader()
		createQuery(t, l, &pb.PreparedQuery{Name: "taken", Service: &pb.ServiceQuery{Service: "web"}})
		tmpl := func(re string) *pb.QueryTemplate {
			return &pb.QueryTemplate{Type: store.TemplateNamePrefixMatch, Regexp: re}
		}
		for name, q := range map[string]*pb.PreparedQuery{
			"no service":        {Name: "x", Service: &pb.ServiceQuery{}},
			"no service at all": {Name: "x"},
			"bad regexp":        {Name: "x", Template: tmpl("(["), Service: &pb.ServiceQuery{Service: "web"}},
			"template no name":  {Template: tmpl(""), Service: &pb.ServiceQuery{Service: "web"}},
			"bad template type": {Name: "x", Template: &pb.QueryTemplate{Type: "exact"}, Service: &pb.ServiceQuery{Service: "web"}},
			"bad variable":      {Name: "x", Template: tmpl(""), Service: &pb.ServiceQuery{Service: "${name.nope}"}},
			"negative nearest":  {Name: "x", Service: &pb.ServiceQuery{Service: "web", Failover: &pb.QueryFailover{NearestN: -1}}},
			"bad ttl":           {Name: "x", Service: &pb.ServiceQuery{Service: "web"}, Dns: &pb.QueryDNS{Ttl: "soon"}},
			"name taken":        {Name: "taken", Service: &pb.ServiceQuery{Service: "db"}},
			"unknown session":   {Name: "x", Session: "no-such-session", Service: &pb.ServiceQuery{Service: "db"}},
		} {
			err := call(l, MethodPreparedQueryApply, &pb.PreparedQueryApplyRequest{Op: pb.PreparedQueryOp_PREPARED_QUERY_CREATE, Query: q}, &pb.PreparedQueryApplyResponse{})
			if !errors.Is(err, rpc.ErrBadRequest) {
				t.Errorf("%s: %v, want a bad request", name, err)
			}
		}
		err := call(l, MethodPreparedQueryApply, &pb.PreparedQueryApplyRequest{Op: pb.PreparedQueryOp_PREPARED_QUERY_DELETE, Query: &pb.PreparedQuery{Id: "missing"}}, &pb.PreparedQueryApplyResponse{})
		if !errors.Is(err, rpc.ErrBadRequest) {
			t.Errorf("delete missing: %v", err)
		}
		var list pb.PreparedQueriesResponse
		if err := call(l, MethodPreparedQueryGet, &pb.PreparedQueryGetRequest{}, &list); err != nil || len(list.Queries) != 1 {
			t.Fatalf("list after refusals: %v, %v", list.Queries, err)
		}
		if err := call(l, MethodPreparedQueryGet, &pb.PreparedQueryGetRequest{Id: "missing"}, &pb.PreparedQueriesResponse{}); !errors.Is(err, rpc.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
}

func TestInterpolate(t *testing.T) {
	v := templateVars{full: "geo-db-eu", prefix: "geo-", suffix: "db-eu", matches: []string{"geo-db-eu", "db", "eu"}}
	for in, want := range map[string]string{
		"plain":                         "plain",
		"${name.full}":                  "geo-db-eu",
		"${name.prefix}|${name.suffix}": "geo-|db-eu",
		"${match(1)}.${ match(2) }":     "db.eu",
		"${match(7)}x":                  "x",
		"${agent.segment}":              "",
	} {
		got, err := interpolate(in, v)
		if err != nil || got != want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${name", "${other}", "${match(x)}", "${match(-1)}"} {
		if _, err := interpolate(in, v); err == nil {
			t.Errorf("interpolate(%q) accepted", in)
		}
	}
}

// Near sorts by the stored LAN coordinates from the named node, from the
// asking agent's node for "_agent", and from the node with the client's
// address for "_ip".
func TestPreparedQueryNear(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		l := newTestCluster(t, 1, nil).waitLeader()
		var updates []*pb.CoordinateEntry
		for i, node := range []string{"n1", "n2", "n3"} {
			registerInstance(t, l, node, "10.0.0."+string(rune('1'+i)), "web", store.HealthPassing)
			// n1 at 0, n2 at 10 ms, n3 at 20 ms along one axis.
			updates = append(updates, &pb.CoordinateEntry{Node: node, Coord: &pb.Coordinate{Vec: []float64{float64(i) * 0.01, 0, 0, 0, 0, 0, 0, 0}, Height: 1e-5}})
		}
		if _, err := l.raftApply(t.Context(), &pb.Command{Cmd: &pb.Command_CoordinateUpdate{CoordinateUpdate: &pb.CoordinateBatchUpdate{Updates: updates}}}); err != nil {
			t.Fatal(err)
		}
		createQuery(t, l, &pb.PreparedQuery{Name: "from-n3", Service: &pb.ServiceQuery{Service: "web", Near: "n3"}})
		createQuery(t, l, &pb.PreparedQuery{Name: "agent", Service: &pb.ServiceQuery{Service: "web", Near: "_agent"}})
		createQuery(t, l, &pb.PreparedQuery{Name: "ip", Service: &pb.ServiceQuery{Service: "web", Near: "_ip"}})
		order := func(req *pb.PreparedQueryExecuteRequest) []string {
			var out []string
			for _, in := range execute(t, l, req).Nodes {
				out = append(out, in.Node.Node)
			}
			return out
		}
		for name, c := range map[string]struct {
			req  *pb.PreparedQueryExecuteRequest
			want []string
		}{
			"node":          {&pb.PreparedQueryExecuteRequest{QueryIdOrName: "from-n3"}, []string{"n3", "n2", "n1"}},
			"_agent":        {&pb.PreparedQueryExecuteRequest{QueryIdOrName: "agent", SourceNode: "n1"}, []string{"n1", "n2", "n3"}},
			"_ip":           {&pb.PreparedQueryExecuteRequest{QueryIdOrName: "ip", SourceNode: "n1", SourceIp: "10.0.0.3"}, []string{"n3", "n2", "n1"}},
			"_ip unknown":   {&pb.PreparedQueryExecuteRequest{QueryIdOrName: "ip", SourceNode: "n2", SourceIp: "192.0.2.1"}, []string{"n2"}},
			"?near= wins":   {&pb.PreparedQueryExecuteRequest{QueryIdOrName: "from-n3", Near: "n1"}, []string{"n1", "n2", "n3"}},
			"limit in near": {&pb.PreparedQueryExecuteRequest{QueryIdOrName: "from-n3", Limit: 2}, []string{"n3", "n2"}},
		} {
			got := order(c.req)
			if !slices.Equal(got[:len(c.want)], c.want) {
				t.Errorf("%s: order %v, want %v first", name, got, c.want)
			}
		}
	})
}

// A blocking list of prepared queries wakes on a create and not before.
func TestPreparedQueryBlockingList(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		l := newTestCluster(t, 1, nil).waitLeader()
		var first pb.PreparedQueriesResponse
		if err := call(l, MethodPreparedQueryGet, &pb.PreparedQueryGetRequest{}, &first); err != nil {
			t.Fatal(err)
		}
		done := make(chan *pb.PreparedQueriesResponse, 1)
		go func() {
			var resp pb.PreparedQueriesResponse
			req := &pb.PreparedQueryGetRequest{Query: &pb.QueryOptions{MinIndex: first.Meta.Index, MaxWaitNanos: int64(time.Minute)}}
			if err := call(l, MethodPreparedQueryGet, req, &resp); err != nil {
				t.Error(err)
			}
			done <- &resp
		}()
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("blocking list answered before any change: %v", r.Queries)
		default:
		}
		createQuery(t, l, &pb.PreparedQuery{Name: "new", Service: &pb.ServiceQuery{Service: "web"}})
		r := <-done
		if len(r.Queries) != 1 || r.Queries[0].Name != "new" || r.Meta.Index <= first.Meta.Index {
			t.Fatalf("woke with %v at %d", r.Queries, r.Meta.GetIndex())
		}
	})
}

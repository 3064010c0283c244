package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// TestServerEnforcesACLsOnDirectRPC calls a server's RPC port directly,
// as a client agent or any program that reaches it could, skipping
// every agent's route table: the server itself refuses the writes and
// filters the lists of the catalog, sessions, coordinates, events,
// prepared queries and KV replication.
func TestServerEnforcesACLsOnDirectRPC(t *testing.T) {
	const root = "direct-rpc-root"
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-hcl",
		`acl { enabled = true default_policy = "deny" tokens { initial_management = "` + root + `" } }`}})
	srv := c.WaitForLeader(10 * time.Second)
	admin := tokenClient(t, srv, root)
	if _, err := admin.Catalog().Register(&api.CatalogRegistration{Node: "ext1", Address: "10.0.0.1",
		Service: &api.AgentService{ID: "web1", Service: "web"},
		Check:   &api.AgentCheck{CheckID: "web-alive", Name: "alive", ServiceID: "web1", Status: "passing"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "webq", Service: api.ServiceQuery{Service: "web"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: "nodes", Rules: `node_prefix "" { policy = "read" }`}, nil); err != nil {
		t.Fatal(err)
	}
	nodeReader, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "nodes"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	pool := rpc.NewPool(rpc.PoolConfig{})
	t.Cleanup(func() { pool.Close() })
	call := func(method string, req, resp proto.Message) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return pool.Call(ctx, srv.RPCAddr, method, req, resp)
	}
	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, rpc.ErrPermissionDenied) || !strings.Contains(err.Error(), "Permission denied") {
			t.Errorf("%s without a token: %v, want Permission denied", what, err)
		}
	}
	anon := &pb.WriteOptions{}
	denied("Catalog.Register", call(dc.MethodCatalogRegister, &pb.RegisterRequest{Write: anon,
		Node: &pb.Node{Node: "evil", Address: "10.6.6.6"}}, &pb.WriteResponse{}))
	denied("Catalog.Register of a service on an existing node", call(dc.MethodCatalogRegister, &pb.RegisterRequest{Write: anon,
		Node: &pb.Node{Node: "ext1", Address: "10.0.0.1"}, SkipNodeUpdate: true, Service: &pb.Service{Id: "x", Service: "x"}}, &pb.WriteResponse{}))
	denied("Catalog.Deregister", call(dc.MethodCatalogDeregister, &pb.DeregisterRequest{Write: anon, Node: "ext1"}, &pb.WriteResponse{}))
	denied("Session.Create", call(dc.MethodSessionCreate, &pb.SessionCreateRequest{Write: anon, Session: &pb.Session{Node: srv.Name}}, &pb.SessionCreateResponse{}))
	denied("Coordinate.Update", call(dc.MethodCoordinateUpdate, &pb.CoordinateUpdateRequest{Write: anon, Node: "ext1",
		Coord: &pb.Coordinate{Vec: make([]float64, 8), Error: 1.5, Height: 1e-5}}, &pb.CoordinateUpdateResponse{}))
	denied("Internal.EventFire", call(dc.MethodEventFire, &pb.EventFireRequest{Dc: "dc1", Event: &pb.UserEvent{Name: "deploy"}}, &pb.EventFireResponse{}))
	denied("PreparedQuery.Apply", call(dc.MethodPreparedQueryApply, &pb.PreparedQueryApplyRequest{Write: anon,
		Op: pb.PreparedQueryOp_PREPARED_QUERY_CREATE, Query: &pb.PreparedQuery{Name: "evil", Service: &pb.ServiceQuery{Service: "web"}}}, &pb.PreparedQueryApplyResponse{}))
	denied("PreparedQuery.Execute", call(dc.MethodPreparedQueryExecute, &pb.PreparedQueryExecuteRequest{Query: &pb.QueryOptions{}, QueryIdOrName: "webq"}, &pb.PreparedQueryExecuteResponse{}))
	denied("KV.Changes", call(dc.MethodKVChanges, &pb.KVChangesRequest{Query: &pb.QueryOptions{}, Prefixes: []string{""}}, &pb.KVChangesResponse{}))
	denied("Operator.RaftConfiguration", call(dc.MethodRaftConfiguration, &pb.RaftConfigurationRequest{Query: &pb.QueryOptions{}}, &pb.RaftConfigurationResponse{}))

	// Lists come back without what the token may not read, marked.
	var nodes pb.NodesResponse
	if err := call(dc.MethodCatalogNodes, &pb.NodesRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{}}}, &nodes); err != nil ||
		len(nodes.Nodes) != 0 || !nodes.Meta.GetResultsFilteredByAcls() {
		t.Errorf("Catalog.ListNodes without a token: %v %v (filtered %v)", err, nodes.Nodes, nodes.Meta.GetResultsFilteredByAcls())
	}
	var insts pb.ServiceNodesResponse
	if err := call(dc.MethodCatalogServiceNodes, &pb.ServiceNodesRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{}}, Service: "web"}, &insts); err != nil ||
		len(insts.Instances) != 0 || !insts.Meta.GetResultsFilteredByAcls() {
		t.Errorf("Catalog.ServiceNodes without a token: %v %v", err, insts.Instances)
	}
	var checks pb.ChecksResponse
	if err := call(dc.MethodHealthChecks, &pb.ChecksRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{}}, State: "any"}, &checks); err != nil || len(checks.Checks) != 0 {
		t.Errorf("Health.Checks without a token: %v %v", err, checks.Checks)
	}
	var dump pb.CatalogDumpResponse
	if err := call(dc.MethodCatalogDump, &pb.CatalogDumpRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{}}}, &dump); err != nil ||
		len(dump.Nodes)+len(dump.Services)+len(dump.Checks) != 0 {
		t.Errorf("Catalog.Dump without a token: %v %d nodes", err, len(dump.Nodes))
	}
	var queries pb.PreparedQueriesResponse
	if err := call(dc.MethodPreparedQueryGet, &pb.PreparedQueryGetRequest{Query: &pb.QueryOptions{}}, &queries); err != nil ||
		len(queries.Queries) != 0 || !queries.Meta.GetResultsFilteredByAcls() {
		t.Errorf("PreparedQuery.Get without a token: %v %v", err, queries.Queries)
	}

	// A node reader sees the nodes, but not the service's checks.
	nodes.Reset()
	if err := call(dc.MethodCatalogNodes, &pb.NodesRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{Token: nodeReader.SecretID}}}, &nodes); err != nil ||
		len(nodes.Nodes) < 2 || nodes.Meta.GetResultsFilteredByAcls() {
		t.Errorf("Catalog.ListNodes with node read: %v %d nodes", err, len(nodes.Nodes))
	}
	checks.Reset()
	if err := call(dc.MethodHealthChecks, &pb.ChecksRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{Token: nodeReader.SecretID}}, Node: "ext1"}, &checks); err != nil ||
		len(checks.Checks) != 0 || !checks.Meta.GetResultsFilteredByAcls() {
		t.Errorf("Health.Checks of a service check with node read only: %v %v", err, checks.Checks)
	}
	// KV.Changes (the replication RPC) needs read on every key under
	// each prefix it asks for.
	mk := func(name, rules string) string {
		t.Helper()
		if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil); err != nil {
			t.Fatal(err)
		}
		tok, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: name}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok.SecretID
	}
	appReader := mk("app-read", `key_prefix "app/" { policy = "read" }
key "app/secret" { policy = "deny" }`)
	for prefix, ok := range map[string]bool{"app/": false, "app/pub/": true, "": false} {
		err := call(dc.MethodKVChanges, &pb.KVChangesRequest{Query: &pb.QueryOptions{Token: appReader}, Prefixes: []string{prefix}}, &pb.KVChangesResponse{})
		if (err == nil) != ok {
			t.Errorf("KV.Changes of %q with key read on app/ but app/secret denied: %v, want allowed %v", prefix, err, ok)
		}
	}

	// A prepared query's results are filtered by the executing token.
	queryOnly := mk("query-only", `query "webq" { policy = "read" }`)
	queryAndService := mk("query-service", `query "webq" { policy = "read" }
service "web" { policy = "read" }
node_prefix "" { policy = "read" }`)
	for tok, want := range map[string]int{queryOnly: 0, queryAndService: 1} {
		var exec pb.PreparedQueryExecuteResponse
		err := call(dc.MethodPreparedQueryExecute, &pb.PreparedQueryExecuteRequest{Query: &pb.QueryOptions{Token: tok}, QueryIdOrName: "webq"}, &exec)
		if err != nil || len(exec.Nodes) != want || exec.Meta.GetResultsFilteredByAcls() != (want == 0) {
			t.Errorf("executing webq: %v, %d instances (filtered %v), want %d", err, len(exec.Nodes), exec.Meta.GetResultsFilteredByAcls(), want)
		}
	}

	// The management token gets everything.
	if err := call(dc.MethodKVChanges, &pb.KVChangesRequest{Query: &pb.QueryOptions{Token: root}, Prefixes: []string{""}}, &pb.KVChangesResponse{}); err != nil {
		t.Errorf("KV.Changes with the management token: %v", err)
	}
	insts.Reset()
	if err := call(dc.MethodCatalogServiceNodes, &pb.ServiceNodesRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{Token: root}}, Service: "web"}, &insts); err != nil ||
		len(insts.Instances) != 1 {
		t.Errorf("Catalog.ServiceNodes with the management token: %v %v", err, insts.Instances)
	}
}

// TestAgentTokenSync: with deny by default, a client agent whose agent
// token (set through PUT /v1/agent/token/agent) may write its node
// syncs its node checks, and services sync with the token they were
// registered with; a client agent without an agent token logs that its
// node check and its coordinate are blocked by ACLs, and they stay out
// of the catalog.
func TestAgentTokenSync(t *testing.T) {
	const root = "agent-token-root"
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 2, CoordinateSync: 200 * time.Millisecond,
		Args: []string{"-hcl", `acl { enabled = true default_policy = "deny" token_ttl = "300ms" tokens { initial_management = "` + root + `" } }`}})
	srv := c.WaitForLeader(10 * time.Second)
	admin := tokenClient(t, srv, root)
	withToken, without := c.Clients()[0], c.Clients()[1]

	mkToken := func(name, rules string) string {
		t.Helper()
		if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil); err != nil {
			t.Fatal(err)
		}
		tok, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: name}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok.SecretID
	}
	agentToken := mkToken("agent", fmt.Sprintf(`node %q { policy = "write" }
service_prefix "" { policy = "read" }`, withToken.Name))
	webToken := mkToken("web", `service "web" { policy = "write" }`)

	// Setting a token needs acl write.
	if _, err := tokenClient(t, withToken, webToken).Agent().UpdateAgentACLToken(agentToken, nil); !isDenied(err) {
		t.Fatalf("setting the agent token with a service token: %v", err)
	}
	if _, err := tokenClient(t, withToken, root).Agent().UpdateAgentACLToken(agentToken, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", "http://"+withToken.HTTPAddr+"/v1/agent/token/bogus", strings.NewReader(`{"Token":"x"}`))
	req.Header.Set("X-Consul-Token", root)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown token kind: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The agent recovery token may use this agent's endpoints, and
	// nothing the servers answer.
	if _, err := tokenClient(t, withToken, root).Agent().UpdateAgentRecoveryACLToken("recovery-secret", nil); err != nil {
		t.Fatal(err)
	}
	recovery := tokenClient(t, withToken, "recovery-secret")
	if _, err := recovery.Agent().Self(); err != nil {
		t.Fatalf("agent self with the recovery token: %v", err)
	}
	if _, _, err := recovery.KV().Get("x", nil); !isDenied(err) {
		t.Fatalf("a KV read with the recovery token: %v, want 403", err)
	}

	logs := monitorLogs(t, without, root)
	for _, n := range []*testcluster.Node{withToken, without} {
		web := tokenClient(t, n, webToken)
		if err := web.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web-" + n.Name, Name: "web",
			Check: &api.AgentServiceCheck{CheckID: "web-ttl-" + n.Name, TTL: "10m", Status: "passing"}}); err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		if err := tokenClient(t, n, root).Agent().CheckRegister(&api.AgentCheckRegistration{ID: "disk-" + n.Name, Name: "disk",
			AgentServiceCheck: api.AgentServiceCheck{TTL: "10m", Status: "passing"}}); err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
	}
	checkIDs := func(node string) (map[string]bool, error) {
		checks, _, err := admin.Health().Node(node, nil)
		if err != nil {
			return nil, err
		}
		ids := map[string]bool{}
		for _, c := range checks {
			ids[c.CheckID] = true
		}
		return ids, nil
	}
	testcluster.WaitFor(t, 15*time.Second, func() error {
		for _, n := range []*testcluster.Node{withToken, without} {
			ids, err := checkIDs(n.Name)
			if err != nil {
				return err
			}
			if !ids["web-ttl-"+n.Name] {
				return fmt.Errorf("%s: service check not synced: %v", n.Name, ids)
			}
		}
		ids, err := checkIDs(withToken.Name)
		if err != nil {
			return err
		}
		if !ids["disk-"+withToken.Name] {
			return fmt.Errorf("the node check of the agent with a token is not synced: %v", ids)
		}
		return nil
	})
	logs.waitFor(t, "register 1 node checks blocked by ACLs", "Permission denied")
	logs.waitFor(t, "Coordinate update blocked by ACLs", "lacks permission 'node:write'")
	if ids, err := checkIDs(without.Name); err != nil || ids["disk-"+without.Name] {
		t.Fatalf("the node check of the agent without a token reached the catalog: %v %v", ids, err)
	}
}

// logStream follows an agent's /v1/agent/monitor.
type logStream struct{ lines chan string }

func monitorLogs(t *testing.T, n *testcluster.Node, token string) *logStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.HTTPAddr+"/v1/agent/monitor?loglevel=warn", nil)
	req.Header.Set("X-Consul-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ls := &logStream{lines: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case ls.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	return ls
}

// waitFor waits for a line holding every one of parts.
func (ls *logStream) waitFor(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l := <-ls.lines:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				t.Logf("logged: %s", l)
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q", parts)
		}
	}
}

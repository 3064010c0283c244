package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// The compatibility fixtures: data directories (Raft log, snapshot, node ID)
// written by released versions of Meridian, each with the state it served
// when it was written. Every later version must start from each of them
// and serve the same KV, catalog and sessions: this is what keeps upgrades
// safe as the Raft log gains entry types.
//
// A release that changes the log or snapshot format adds a directory with
//
//	go test ./agent -run TestDataDirCompat -write-datadir-fixture=vN
//
// and never rewrites an existing one.
var writeFixture = flag.String("write-datadir-fixture", "", "write a new data directory fixture under testdata/datadir/`NAME`")

const (
	fixtureRoot = "../testdata/datadir"
	fixtureNode = "compat-server"
	fixtureDC   = "dc1"
)

// fixtureState is what a fixture's agent serves, in a form that does not
// depend on the agent's own node (whose address and ports change when the
// directory is opened again) or on time.
type fixtureState struct {
	KV       api.KVPairs
	Nodes    []*api.Node
	Services map[string][]*api.CatalogService
	Checks   map[string]api.HealthChecks
	Sessions []*api.SessionEntry
	// Coordinates are the stored LAN coordinates (from format3 on).
	Coordinates []*api.CoordinateEntry `json:",omitempty"`
	// PreparedQueries are the stored prepared queries (from the fixture
	// written after they were added on).
	PreparedQueries []*api.PreparedQueryDefinition `json:",omitempty"`
	// ACL state (tokens, policies, roles), from the fixture that follows
	// the ACL system on; the bootstrap state shows as ACLBootstrapped.
	ACLTokens       []*api.ACLTokenListEntry  `json:",omitempty"`
	ACLPolicies     []*api.ACLPolicyListEntry `json:",omitempty"`
	ACLRoles        []*api.ACLRole            `json:",omitempty"`
	ACLBootstrapped bool                      `json:",omitempty"`
	// KVReplication is the stored progress of KV replication from the
	// fixture's source datacenter (from the format with kv replication on).
	KVReplication *fixtureReplication `json:",omitempty"`
	// Autopilot is the stored autopilot configuration (from format5 on;
	// nil where none was ever set).
	Autopilot *api.AutopilotConfiguration `json:",omitempty"`
}

// fixtureManagement is the management token fixture agents run with
// (acl.tokens.initial_management), so ACL state reads back whatever the
// fixture holds.
const fixtureManagement = "4b4e6a9c-5d1f-4a3e-9c1b-0f2d3e4a5b6c"

// fixtureReplication is the replication progress a fixture stored.
type fixtureReplication struct {
	SourceDatacenter string
	SourceIndex      uint64
	Index            uint64
}

// fixtureSourceDC is the datacenter a fixture's server replicates KV from.
const fixtureSourceDC = "dc0"

func TestDataDirCompat(t *testing.T) {
	if *writeFixture != "" {
		writeDataDirFixture(t, *writeFixture)
		return
	}
	dirs, err := filepath.Glob(filepath.Join(fixtureRoot, "*", "expected.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no data directory fixtures under %s (%v)", fixtureRoot, err)
	}
	for _, exp := range dirs {
		dir := filepath.Dir(exp)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(exp)
			if err != nil {
				t.Fatal(err)
			}
			var want fixtureState
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", exp, err)
			}
			data := t.TempDir()
			copyDir(t, filepath.Join(dir, "data"), data)
			a, c := startFixtureAgent(t, data)
			got := readFixtureState(t, a, c)
			if !bytes.Equal(stateJSON(t, got), stateJSON(t, &want)) {
				t.Fatalf("state served from %s differs from the one it was written with:\ngot  %s\nwant %s",
					dir, stateJSON(t, got), stateJSON(t, &want))
			}
			// The server keeps going: a new write lands after the
			// fixture's entries.
			if _, err := c.KV().Put(&api.KVPair{Key: "after-upgrade", Value: []byte("x")}, nil); err != nil {
				t.Fatalf("write after opening the fixture: %v", err)
			}
			if stopped := a.Server().Store().Stopped(); stopped != nil {
				t.Fatalf("store stopped: %v", stopped)
			}
		})
	}
}

// startFixtureAgent runs a single server on dataDir (with -bootstrap, which
// does nothing once Raft has state) and waits until it leads.
// extra replaces the defaults it names (the writer's source datacenter
// and the replicating server take a WAN port).
func startFixtureAgent(t *testing.T, dataDir string, extra ...string) (*agent.Agent, *api.Client) {
	t.Helper()
	ports := testcluster.FreePorts(t, 3)
	args := []string{
		"-server", "-bootstrap", "-node", fixtureNode, "-datacenter", fixtureDC,
		"-data-dir", dataDir, "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", strconv.Itoa(ports[0]), "-server-port", strconv.Itoa(ports[1]),
		"-serf-lan-port", strconv.Itoa(ports[2]), "-serf-wan-port", "-1", "-dns-port", "-1",
		"-hcl", `acl { enabled = true default_policy = "allow" tokens { initial_management = "` + fixtureManagement + `" } }`,
	}
	cfg, _, err := config.Load(append(args, extra...))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown() })
	c, err := api.NewClient(&api.Config{Address: a.HTTPAddr(), Token: fixtureManagement})
	if err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 20*time.Second, func() error {
		_, _, err := c.KV().Get("any", &api.QueryOptions{RequireConsistent: true})
		return err
	})
	return a, c
}

func readFixtureState(t *testing.T, a *agent.Agent, c *api.Client) *fixtureState {
	t.Helper()
	q := &api.QueryOptions{RequireConsistent: true}
	st := &fixtureState{Services: map[string][]*api.CatalogService{}, Checks: map[string]api.HealthChecks{}}
	var err error
	if st.KV, _, err = c.KV().List("", q); err != nil {
		t.Fatal(err)
	}
	nodes, _, err := c.Catalog().Nodes(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Node == fixtureNode {
			continue
		}
		st.Nodes = append(st.Nodes, n)
		cn, _, err := c.Catalog().Node(n.Node, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range cn.Services {
			all, _, err := c.Catalog().Service(svc.Service, "", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, inst := range all {
				if inst.Node != fixtureNode && !slices.ContainsFunc(st.Services[svc.Service], func(x *api.CatalogService) bool {
					return x.Node == inst.Node && x.ServiceID == inst.ServiceID
				}) {
					st.Services[svc.Service] = append(st.Services[svc.Service], inst)
				}
			}
		}
		if st.Checks[n.Node], _, err = c.Health().Node(n.Node, q); err != nil {
			t.Fatal(err)
		}
	}
	sessions, _, err := c.Session().List(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Node != fixtureNode {
			st.Sessions = append(st.Sessions, s)
		}
	}
	slices.SortFunc(st.Sessions, func(a, b *api.SessionEntry) int { return int(a.CreateIndex) - int(b.CreateIndex) })
	coords, _, err := c.Coordinate().Nodes(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range coords {
		// The fixture's own agent sends its coordinate as it runs.
		if e.Node != fixtureNode {
			st.Coordinates = append(st.Coordinates, e)
		}
	}
	if st.PreparedQueries, _, err = c.PreparedQuery().List(q); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(st.PreparedQueries, func(a, b *api.PreparedQueryDefinition) int { return strings.Compare(a.Name, b.Name) })
	if st.ACLTokens, _, err = c.ACL().TokenList(q); err != nil {
		t.Fatal(err)
	}
	if st.ACLPolicies, _, err = c.ACL().PolicyList(q); err != nil {
		t.Fatal(err)
	}
	if st.ACLRoles, _, err = c.ACL().RoleList(q); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(st.ACLTokens, func(a, b *api.ACLTokenListEntry) int { return int(a.CreateIndex) - int(b.CreateIndex) })
	slices.SortFunc(st.ACLPolicies, func(a, b *api.ACLPolicyListEntry) int { return int(a.CreateIndex) - int(b.CreateIndex) })
	slices.SortFunc(st.ACLRoles, func(a, b *api.ACLRole) int { return int(a.CreateIndex) - int(b.CreateIndex) })
	// A second bootstrap is refused exactly when the state says it ran
	// (an anonymous attempt on a fixture without it would bootstrap, so
	// that case is left to the token list: no bootstrap token in it).
	for _, tok := range st.ACLTokens {
		if tok.Description == "Bootstrap Token (Global Management)" {
			st.ACLBootstrapped = true
		}
	}
	if st.ACLBootstrapped {
		if _, _, err := c.ACL().Bootstrap(); err == nil || !strings.Contains(err.Error(), "ACL bootstrap no longer allowed") {
			t.Fatalf("bootstrap on a bootstrapped fixture: %v", err)
		}
	}
	if r := a.Server().Store().KVReplicationState(fixtureSourceDC); r != nil {
		st.KVReplication = &fixtureReplication{SourceDatacenter: r.SourceDatacenter, SourceIndex: r.SourceIndex, Index: r.Index}
	}
	if a.Server().Store().AutopilotConfig() != nil {
		if st.Autopilot, err = c.Operator().AutopilotGetConfiguration(q); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func stateJSON(t *testing.T, st *fixtureState) []byte {
	t.Helper()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeDataDirFixture writes every kind of log entry through the API, some
// before a snapshot and some after it (so opening the directory restores
// the snapshot and replays the log's tail), then saves the data directory
// and the state it serves.
func writeDataDirFixture(t *testing.T, name string) {
	out := filepath.Join(fixtureRoot, name)
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("%s exists: a fixture is never rewritten", out)
	}
	// A source datacenter whose repl/ the fixture's server replicates.
	wanPorts := testcluster.FreePorts(t, 2)
	_, src := startFixtureAgent(t, t.TempDir(), "-datacenter", fixtureSourceDC, "-node", "compat-source",
		"-serf-wan-port", strconv.Itoa(wanPorts[0]))
	data := t.TempDir()
	a, c := startFixtureAgent(t, data, "-serf-wan-port", strconv.Itoa(wanPorts[1]),
		"-retry-join-wan", "127.0.0.1:"+strconv.Itoa(wanPorts[0]),
		"-hcl", `kv_replication { source_datacenter = "`+fixtureSourceDC+`" prefixes = ["repl/"] }`)
	kv, cat, sess := c.KV(), c.Catalog(), c.Session()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	writeRound := func(round string) {
		t.Helper()
		p := "r" + round + "/"
		for i := range 5 {
			_, err := kv.Put(&api.KVPair{Key: fmt.Sprintf("%sconfig/key%d", p, i), Value: []byte("value " + strconv.Itoa(i)), Flags: uint64(i)}, nil)
			must("kv put", err)
		}
		pair, _, err := kv.Get(p+"config/key1", nil)
		must("kv get", err)
		pair.Value = []byte("swapped")
		ok, _, err := kv.CAS(pair, nil)
		must("kv cas", err)
		if !ok {
			t.Fatal("cas refused")
		}
		_, err = kv.Delete(p+"config/key4", nil)
		must("kv delete", err)
		_, err = kv.Put(&api.KVPair{Key: p + "tree/a", Value: []byte("a")}, nil)
		must("kv put", err)
		_, err = kv.DeleteTree(p+"tree/", nil)
		must("kv delete tree", err)
		ok, _, _, err = kv.Txn(api.KVTxnOps{
			{Verb: api.KVSet, Key: p + "txn/x", Value: []byte("1")},
			{Verb: api.KVSet, Key: p + "txn/y", Value: []byte("2")},
			{Verb: api.KVCheckNotExists, Key: p + "txn/z"},
		}, nil)
		must("txn", err)
		if !ok {
			t.Fatal("txn rolled back")
		}
		// A key replicated from the source datacenter (a KV replication
		// entry, with its progress).
		_, err = src.KV().Put(&api.KVPair{Key: "repl/" + round, Value: []byte("from " + fixtureSourceDC)}, nil)
		must("source kv put", err)
		testcluster.WaitFor(t, 60*time.Second, func() error {
			got, _, err := kv.Get("repl/"+round, nil)
			if err != nil || got == nil {
				return fmt.Errorf("repl/%s not replicated yet: %v %v", round, got, err)
			}
			return nil
		})
		node := "ext-" + round
		_, err = cat.Register(&api.CatalogRegistration{
			Node: node, Address: "10.1.0." + round, NodeMeta: map[string]string{"rack": "r" + round},
			TaggedAddresses: map[string]string{"wan": "192.0.2." + round},
			Service: &api.AgentService{ID: "web-" + round, Service: "web", Tags: []string{"v1", "r" + round},
				Port: 8080, Meta: map[string]string{"version": "1"}},
			Checks: api.HealthChecks{
				{Node: node, CheckID: "alive", Name: "alive", Status: api.HealthPassing},
				{Node: node, CheckID: "web-http", Name: "web http", Status: api.HealthWarning, ServiceID: "web-" + round, Output: "slow"},
			},
		}, nil)
		must("catalog register", err)
		_, err = cat.Register(&api.CatalogRegistration{Node: node, Address: "10.1.0." + round,
			Service: &api.AgentService{ID: "db-" + round, Service: "db", Port: 5432}}, nil)
		must("catalog register", err)
		_, err = cat.Deregister(&api.CatalogDeregistration{Node: node, ServiceID: "db-" + round}, nil)
		must("catalog deregister", err)
		// A coordinate update, written by the leader in its next batch.
		coord := &coordinate.Coordinate{Vec: []float64{0.001, 0.002, 0, 0, 0, 0, 0, 0.003}, Error: 0.5, Adjustment: 0.0001, Height: 0.00002}
		_, err = c.Coordinate().Update(&api.CoordinateEntry{Node: node, Coord: coord}, nil)
		must("coordinate update", err)
		testcluster.WaitFor(t, 20*time.Second, func() error {
			got, _, err := c.Coordinate().Node(node, nil)
			if err != nil || len(got) != 1 {
				return fmt.Errorf("coordinate of %s not stored yet: %v %v", node, got, err)
			}
			return nil
		})
		id, _, err := sess.Create(&api.SessionEntry{Name: "lock-" + round, Node: node, NodeChecks: []string{"alive"},
			LockDelay: 15 * time.Second, Behavior: api.SessionBehaviorRelease}, nil)
		must("session create", err)
		ok, _, err = kv.Acquire(&api.KVPair{Key: p + "locks/leader", Value: []byte("me"), Session: id}, nil)
		must("kv acquire", err)
		if !ok {
			t.Fatal("acquire refused")
		}
		_, _, err = sess.Renew(id, nil)
		must("session renew", err)
		gone, _, err := sess.Create(&api.SessionEntry{Name: "gone-" + round, Node: node, NodeChecks: []string{"alive"},
			Behavior: api.SessionBehaviorDelete}, nil)
		must("session create", err)
		ok, _, err = kv.Acquire(&api.KVPair{Key: p + "locks/released", Session: gone}, nil)
		must("kv acquire", err)
		if !ok {
			t.Fatal("acquire refused")
		}
		ok, _, err = kv.Release(&api.KVPair{Key: p + "locks/released", Session: gone}, nil)
		must("kv release", err)
		if !ok {
			t.Fatal("release refused")
		}
		// Prepared queries: created, updated, deleted, a template, and one
		// bound to a session that is then destroyed (which deletes it).
		pq := c.PreparedQuery()
		qid, _, err := pq.Create(&api.PreparedQueryDefinition{Name: "web-" + round, Service: api.ServiceQuery{
			Service: "web", Tags: []string{"v1", "!canary"}, NodeMeta: map[string]string{"rack": "r" + round},
			Failover: api.QueryFailoverOptions{NearestN: 2, Datacenters: []string{"dc2"}}}, DNS: api.QueryDNSOptions{TTL: "10s"}}, nil)
		must("query create", err)
		_, err = pq.Update(&api.PreparedQueryDefinition{ID: qid, Name: "web-" + round, Service: api.ServiceQuery{
			Service: "web", OnlyPassing: true, Near: "_agent"}}, nil)
		must("query update", err)
		_, _, err = pq.Create(&api.PreparedQueryDefinition{Name: "geo-" + round + "-", Template: api.QueryTemplate{
			Type: "name_prefix_match", Regexp: "^geo-" + round + "-(.*)$"}, Service: api.ServiceQuery{Service: "${match(1)}"}}, nil)
		must("query create template", err)
		dropped, _, err := pq.Create(&api.PreparedQueryDefinition{Name: "dropped-" + round, Service: api.ServiceQuery{Service: "db"}}, nil)
		must("query create", err)
		_, err = pq.Delete(dropped, nil)
		must("query delete", err)
		_, _, err = pq.Create(&api.PreparedQueryDefinition{Name: "bound-" + round, Session: gone, Service: api.ServiceQuery{Service: "db"}}, nil)
		must("query create bound", err)
		_, err = sess.Destroy(gone, nil)
		must("session destroy", err)
		// Concurrent writers, so the leader's group commit writes
		// command batches.
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := kv.Put(&api.KVPair{Key: fmt.Sprintf("%sburst/%02d", p, i), Value: []byte("b")}, nil)
				if err != nil {
					t.Errorf("burst put: %v", err)
				}
			}()
		}
		wg.Wait()
		// ACL state: the bootstrap token in the first round, a policy, a
		// role and a token for them in each.
		if round == "1" {
			anon, err := api.NewClient(&api.Config{Address: a.HTTPAddr()})
			must("client", err)
			_, _, err = anon.ACL().Bootstrap()
			must("acl bootstrap", err)
		}
		pol, _, err := c.ACL().PolicyCreate(&api.ACLPolicy{Name: "app-" + round, Description: "round " + round,
			Rules: `key_prefix "` + p + `" { policy = "write" }`}, nil)
		must("acl policy create", err)
		role, _, err := c.ACL().RoleCreate(&api.ACLRole{Name: "ops-" + round, Policies: []*api.ACLRolePolicyLink{{ID: pol.ID}}}, nil)
		must("acl role create", err)
		_, _, err = c.ACL().TokenCreate(&api.ACLToken{Description: "app " + round, Local: round == "2",
			Policies: []*api.ACLTokenPolicyLink{{Name: pol.Name}}, Roles: []*api.ACLTokenRoleLink{{ID: role.ID}}}, nil)
		must("acl token create", err)
		// The autopilot configuration: a plain set in the first round, a
		// check-and-set over it in the second.
		ap, err := c.Operator().AutopilotGetConfiguration(nil)
		must("autopilot get", err)
		n, _ := strconv.Atoi(round)
		ap.MinQuorum = uint(n + 2)
		ap.MaxTrailingLogs = 100 * uint64(n)
		if round == "1" {
			must("autopilot set", c.Operator().AutopilotSetConfiguration(ap, nil))
		} else {
			ok, err := c.Operator().AutopilotCASConfiguration(ap, nil)
			must("autopilot cas", err)
			if !ok {
				t.Fatal("autopilot cas refused")
			}
		}
	}
	writeRound("1")
	must("snapshot", a.Server().TakeSnapshot())
	writeRound("2")
	want := readFixtureState(t, a, c)
	if err := a.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	must("mkdir", os.MkdirAll(out, 0o755))
	for _, sub := range []string{"raft", "node-id"} {
		copyPath(t, filepath.Join(data, sub), filepath.Join(out, "data", sub))
	}
	must("write expected", os.WriteFile(filepath.Join(out, "expected.json"), append(stateJSON(t, want), '\n'), 0o644))
	t.Logf("wrote %s", out)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		return copyFile(path, filepath.Join(to, rel))
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}

func copyPath(t *testing.T, from, to string) {
	t.Helper()
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if info.IsDir() {
		copyDir(t, from, to)
		return
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(from, to); err != nil {
		t.Fatal(err)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

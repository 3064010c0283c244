package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// aclArgs turn ACLs on with deny by default; client agents keep a
// resolved token for 300 ms so a deletion reaches them quickly.
var aclArgs = []string{"-hcl", `acl { enabled = true default_policy = "deny" token_ttl = "300ms" }`}

func tokenClient(t *testing.T, n *testcluster.Node, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: n.HTTPAddr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func isDenied(err error) bool {
	var se api.StatusError
	return err != nil && errors.As(err, &se) && se.Code == http.StatusForbidden
}

// TestACLWithConsulAPI follows the story with the official
// client: bootstrap once, a policy for app/ and a token for it, writes
// and reads inside and outside its prefix, and a deletion that every
// server and the client agent honour.
func TestACLWithConsulAPI(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Clients: 1, Args: aclArgs})
	c.WaitForLeader(10 * time.Second)
	clientAgent := c.Clients()[0]
	anon := tokenClient(t, clientAgent, "")

	if _, err := anon.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("1")}, nil); !isDenied(err) {
		t.Fatalf("anonymous write: %v, want 403", err)
	}
	root, _, err := anon.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if root.SecretID == "" || root.AccessorID == "" || len(root.Policies) != 1 || root.Policies[0].Name != "global-management" {
		t.Fatalf("bootstrap token %+v", root)
	}
	if _, _, err := anon.ACL().Bootstrap(); err == nil || !strings.Contains(err.Error(), "ACL bootstrap no longer allowed") {
		t.Fatalf("second bootstrap: %v", err)
	}

	admin := tokenClient(t, clientAgent, root.SecretID)
	policy, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: "bad", Rules: `key_prefix "x" { policy = "sudo" }`}, nil); err == nil {
		t.Fatal("a policy with invalid rules was created")
	}
	tok, _, err := admin.ACL().TokenCreate(&api.ACLToken{Description: "app writer", Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Policies) != 1 || tok.Policies[0].ID != policy.ID || tok.SecretID == "" {
		t.Fatalf("token %+v", tok)
	}
	if _, err := admin.KV().Put(&api.KVPair{Key: "other/secret", Value: []byte("s")}, nil); err != nil {
		t.Fatal(err)
	}

	app := tokenClient(t, clientAgent, tok.SecretID)
	if _, err := app.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("write app/x: %v", err)
	}
	_, err = app.KV().Put(&api.KVPair{Key: "other/x", Value: []byte("v")}, nil)
	if !isDenied(err) || !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("write other/x: %v, want 403 Permission denied", err)
	}
	if _, _, err := app.KV().Get("other/secret", nil); !isDenied(err) {
		t.Fatalf("read other/secret: %v, want 403", err)
	}
	if pair, _, err := app.KV().Get("app/x", nil); err != nil || pair == nil || string(pair.Value) != "v" {
		t.Fatalf("read app/x: %v %v", pair, err)
	}
	pairs, _, err := app.KV().List("", nil)
	if err != nil || len(pairs) != 1 || pairs[0].Key != "app/x" {
		t.Fatalf("list everything as the app token: %v %v", pairs, err)
	}
	if pairs, _, err := app.KV().List("other/", nil); err != nil || len(pairs) != 0 {
		t.Fatalf("list other/: %v %v", pairs, err)
	}
	// The filtered list says so; the header of the default policy is true.
	req, _ := http.NewRequest("GET", "http://"+clientAgent.HTTPAddr+"/v1/kv/?recurse", nil)
	req.Header.Set("X-Consul-Token", tok.SecretID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Consul-Results-Filtered-By-ACLs") != "true" || resp.Header.Get("X-Consul-Default-ACL-Policy") != "deny" {
		t.Fatalf("headers %v", resp.Header)
	}

	// The servers enforce too, whatever the agent in front of them does:
	// an RPC straight to a follower carries its token.
	follower := c.Followers()[0].Agent.Server()
	ctx := context.Background()
	put := func(token, key string) error {
		return follower.RPC(ctx, dc.MethodKVApply, &pb.KVApplyRequest{Write: &pb.WriteOptions{Token: token},
			Op: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: key, Value: []byte("r")}}}, &pb.KVApplyResponse{})
	}
	if err := put("", "app/rpc"); !errors.Is(err, rpc.ErrPermissionDenied) {
		t.Fatalf("anonymous KV.Apply: %v", err)
	}
	if err := put(tok.SecretID, "other/rpc"); !errors.Is(err, rpc.ErrPermissionDenied) {
		t.Fatalf("KV.Apply outside the token's prefix: %v", err)
	}
	if err := put(tok.SecretID, "app/rpc"); err != nil {
		t.Fatalf("KV.Apply inside the token's prefix: %v", err)
	}
	var txn pb.TxnResponse
	err = follower.RPC(ctx, dc.MethodTxn, &pb.TxnRequest{Write: &pb.WriteOptions{Token: tok.SecretID}, Ops: []*pb.TxnOp{
		{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "app/t"}}}},
		{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "other/t"}}}},
	}}, &txn)
	if err != nil || len(txn.Errors) != 1 || txn.Errors[0].OpIndex != 1 || !strings.Contains(txn.Errors[0].What, "Permission denied") {
		t.Fatalf("txn with one denied op: %v %v", txn.Errors, err)
	}
	var got pb.KVGetResponse
	err = follower.RPC(ctx, dc.MethodKVGet, &pb.KVGetRequest{Query: &pb.QueryOptions{Token: tok.SecretID}, Recurse: true}, &got)
	if err != nil || len(got.Entries) != 2 || !got.Meta.ResultsFilteredByAcls {
		t.Fatalf("recursive KV.Get: %v %v", got.Entries, err)
	}

	self, _, err := app.ACL().TokenReadSelf(nil)
	if err != nil || self.AccessorID != tok.AccessorID {
		t.Fatalf("token self: %+v %v", self, err)
	}
	if _, _, err := app.ACL().TokenList(nil); !isDenied(err) {
		t.Fatalf("token list without acl:read: %v", err)
	}
	list, _, err := admin.ACL().TokenList(nil)
	if err != nil || len(list) != 2 {
		t.Fatalf("token list: %d %v", len(list), err)
	}
	if got, _, err := admin.ACL().PolicyReadByName("app", nil); err != nil || got.Rules != policy.Rules {
		t.Fatalf("policy by name: %+v %v", got, err)
	}

	// Deleting the token takes effect on every server and the client.
	if _, err := admin.ACL().TokenDelete(tok.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		c := tokenClient(t, n, tok.SecretID)
		testcluster.WaitFor(t, 10*time.Second, func() error {
			_, err := c.KV().Put(&api.KVPair{Key: "app/y", Value: []byte("v")}, nil)
			if !isDenied(err) || !strings.Contains(err.Error(), "ACL not found") {
				return fmt.Errorf("%s: write with a deleted token: %v", n.Name, err)
			}
			return nil
		})
	}
}

// TestNoACLBlockWarning: a server out of -dev without an acl block says,
// on /v1/agent/self, that it is open; with the block it does not.
func TestNoACLBlockWarning(t *testing.T) {
	open := testcluster.New(t, testcluster.Options{Servers: 1})
	self, err := tokenClient(t, open.WaitForLeader(10*time.Second), "").Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	warnings, _ := self["Security"]["Warnings"].([]any)
	if len(warnings) != 1 || !strings.Contains(fmt.Sprint(warnings[0]), "without an acl block") {
		t.Fatalf("Security = %v", self["Security"])
	}
	closed := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-hcl", `acl { enabled = false }`}})
	self, err = tokenClient(t, closed.WaitForLeader(10*time.Second), "").Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if warnings, _ := self["Security"]["Warnings"].([]any); len(warnings) != 0 {
		t.Fatalf("SecurityWarnings with an acl block = %v", warnings)
	}
}

// TestACLFederation: dc1 is the primary; dc2's leader copies its
// policies and global tokens. A global token works in both, a local one
// only where it was made, writes of global state made in dc2 land in
// dc1, and a token deleted in dc1 is refused in dc2 within a
// replication interval.
func TestACLFederation(t *testing.T) {
	const root, interval = "fed-root-secret", 300 * time.Millisecond
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 1,
		Args: []string{"-hcl", `primary_datacenter = "dc1"
acl {
  enabled = true
  default_policy = "deny"
  tokens { initial_management = "` + root + `" replication = "` + root + `" }
}`},
		Tune: func(c *dc.Config) { c.ACL.ReplicationInterval = interval },
	})
	dc1, dc2 := f.DC("dc1").Servers()[0], f.DC("dc2").Servers()[0]
	admin1, admin2 := tokenClient(t, dc1, root), tokenClient(t, dc2, root)

	if _, _, err := admin1.ACL().PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, nil); err != nil {
		t.Fatal(err)
	}
	global, _, err := admin1.ACL().TokenCreate(&api.ACLToken{Description: "global", Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	local1, _, err := admin1.ACL().TokenCreate(&api.ACLToken{Description: "dc1 only", Local: true, Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(n *testcluster.Node, token, key string) error {
		_, err := tokenClient(t, n, token).KV().Put(&api.KVPair{Key: key, Value: []byte("v")}, nil)
		return err
	}
	testcluster.WaitFor(t, 10*time.Second, func() error { return put(dc2, global.SecretID, "app/x") })
	if err := put(dc2, local1.SecretID, "app/x"); !isDenied(err) || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("dc1's local token used in dc2: %v", err)
	}
	if err := put(dc1, local1.SecretID, "app/x"); err != nil {
		t.Fatalf("dc1's local token in dc1: %v", err)
	}

	// Global state written through dc2 lands in the primary; a local
	// token made in dc2 stays there.
	fromDC2, _, err := admin2.ACL().TokenCreate(&api.ACLToken{Description: "made in dc2", Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := admin1.ACL().TokenRead(fromDC2.AccessorID, nil); err != nil || got.Description != "made in dc2" {
		t.Fatalf("dc1 reading the global token made through dc2: %+v %v", got, err)
	}
	local2, _, err := admin2.ACL().TokenCreate(&api.ACLToken{Description: "dc2 only", Local: true, Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(dc2, local2.SecretID, "app/y"); err != nil {
		t.Fatalf("dc2's local token in dc2: %v", err)
	}
	if err := put(dc1, local2.SecretID, "app/y"); !isDenied(err) {
		t.Fatalf("dc2's local token used in dc1: %v", err)
	}
	if _, _, err := admin2.ACL().PolicyCreate(&api.ACLPolicy{Name: "from-dc2"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin1.ACL().PolicyReadByName("from-dc2", nil); err != nil {
		t.Fatalf("a policy written through dc2 is not in dc1: %v", err)
	}

	// Deleting in the primary reaches dc2 within a replication interval
	// (plus the round that may be under way).
	if _, err := admin1.ACL().TokenDelete(global.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if err := put(dc2, global.SecretID, "app/z"); !isDenied(err) {
			return fmt.Errorf("dc2 still takes the deleted token: %v", err)
		}
		return nil
	})
	if took := time.Since(start); took > 2*interval+time.Second {
		t.Errorf("dc2 refused the deleted token after %v, replication interval %v", took, interval)
	} else {
		t.Logf("dc2 refused the deleted token after %v", took)
	}

	// /v1/acl/replication (consul/api's ACL().Replication) tells how the
	// copy goes: running in dc2, not enabled in the primary.
	repl, _, err := tokenClient(t, dc2, "").ACL().Replication(nil)
	if err != nil || !repl.Enabled || !repl.Running || repl.SourceDatacenter != "dc1" || repl.ReplicationType != "tokens" ||
		repl.ReplicatedTokenIndex == 0 || repl.LastSuccess.IsZero() || time.Since(repl.LastSuccess) > time.Minute {
		t.Errorf("dc2's ACL replication status: %+v, %v", repl, err)
	}
	if repl, _, err := tokenClient(t, dc1, "").ACL().Replication(nil); err != nil || repl.Enabled || repl.Running {
		t.Errorf("the primary's ACL replication status: %+v, %v; want not enabled", repl, err)
	}

	// With the primary down, dc2 keeps resolving from its copy
	// (down_policy extend-cache).
	testcluster.WaitFor(t, 10*time.Second, func() error { return put(dc2, fromDC2.SecretID, "app/before-outage") })
	f.DC("dc1").Stop(dc1)
	if err := put(dc2, fromDC2.SecretID, "app/during-outage"); err != nil {
		t.Fatalf("a replicated token in dc2 with the primary down: %v", err)
	}
	if err := put(dc2, fromDC2.SecretID, "other/during-outage"); !isDenied(err) {
		t.Fatalf("its policy still holds with the primary down: %v", err)
	}
	// A failed round shows in the status.
	testcluster.WaitFor(t, 10*time.Second, func() error {
		repl, _, err := tokenClient(t, dc2, "").ACL().Replication(nil)
		if err != nil {
			return err
		}
		if repl.LastError.Before(repl.LastSuccess) || repl.LastErrorMessage == "" {
			return fmt.Errorf("dc2's status with the primary down: %+v", repl)
		}
		return nil
	})
}

// TestDNSWithACLs: DNS answers with the agent's default token; what it
// may not read is left out.
func TestDNSWithACLs(t *testing.T) {
	const root = "dns-root-secret"
	hcl := func(dflt string) []string {
		return []string{"-hcl", `acl { enabled = true default_policy = "deny" tokens { initial_management = "` + root + `" default = "` + dflt + `" } }`}
	}
	check := func(c *testcluster.Cluster, wantWeb bool) {
		t.Helper()
		srv := c.WaitForLeader(10 * time.Second)
		admin := tokenClient(t, srv, root)
		for _, svc := range []string{"web", "db"} {
			if _, err := admin.Catalog().Register(&api.CatalogRegistration{Node: "n-" + svc, Address: "10.0.0.9",
				Service: &api.AgentService{ID: svc, Service: svc, Port: 80}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		addr := srv.Agent.DNSAddr()
		web := query(t, "udp", addr, "web.service.consul.", dns.TypeSRV, 0)
		db := query(t, "udp", addr, "db.service.consul.", dns.TypeSRV, 0)
		node := query(t, "udp", addr, "n-db.node.consul.", dns.TypeA, 0)
		if got := len(web.Answer) > 0; got != wantWeb {
			t.Errorf("web.service answered %v, want %v: %v", got, wantWeb, web.Answer)
		}
		if len(db.Answer) != 0 || len(node.Answer) != 0 || node.Rcode != dns.RcodeNameError {
			t.Errorf("db and its node answered without read access: %v %v (rcode %d)", db.Answer, node.Answer, node.Rcode)
		}
	}
	// No default token: anonymous under deny sees nothing.
	check(testcluster.New(t, testcluster.Options{Servers: 1, Args: hcl("")}), false)
	// A default token that reads web and its node.
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: hcl("dns-reader-secret")})
	admin := tokenClient(t, c.WaitForLeader(10*time.Second), root)
	if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: "dns", Rules: `service "web" { policy = "read" }
node "n-web" { policy = "read" }`}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.ACL().TokenCreate(&api.ACLToken{SecretID: "dns-reader-secret", Policies: []*api.ACLTokenPolicyLink{{Name: "dns"}}}, nil); err != nil {
		t.Fatal(err)
	}
	check(c, true)
}

// TestACLAllDCRead: a ?dc=* list is filtered like a one-datacenter one,
// its service-to-datacenters header too.
func TestACLAllDCRead(t *testing.T) {
	const root = "alldc-root-secret"
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-hcl",
		`acl { enabled = true default_policy = "deny" tokens { initial_management = "` + root + `" } }`}})
	srv := c.WaitForLeader(10 * time.Second)
	admin := tokenClient(t, srv, root)
	for _, svc := range []string{"web", "db"} {
		if _, err := admin.Catalog().Register(&api.CatalogRegistration{Node: "n-" + svc, Address: "10.0.0.9",
			Service: &api.AgentService{ID: svc, Service: svc}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: "web", Rules: `service "web" { policy = "read" }`}, nil); err != nil {
		t.Fatal(err)
	}
	tok, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "web"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr+"/v1/catalog/services?dc=*", nil)
	req.Header.Set("X-Consul-Token", tok.SecretID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string][]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["web"]; !ok || len(got) != 1 {
		t.Fatalf("?dc=* services with a web reader: %v", got)
	}
	if h := resp.Header.Get("X-Meridian-Service-Datacenters"); strings.Contains(h, "db") {
		t.Fatalf("the datacenters header names an unreadable service: %s", h)
	}
	if resp.Header.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
		t.Fatalf("headers %v", resp.Header)
	}
}

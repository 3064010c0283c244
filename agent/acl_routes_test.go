package agent_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// routeWildcard matches a ServeMux pattern's wildcards.
var routeWildcard = regexp.MustCompile(`\{[^}]*\}`)

// publicRoutes are the routes that need no permission, as in Consul.
var publicRoutes = map[string]bool{
	"GET /v1/status/leader":          true,
	"GET /v1/status/peers":           true,
	"GET /v1/catalog/datacenters":    true,
	"GET /v1/coordinate/datacenters": true,
	"GET /v1/agent/version":          true,
	"GET /v1/acl/replication":        true,
	"PUT /v1/acl/bootstrap":          true, // once, then refused by the server
	"GET /v1/acl/token/self":         true, // the secret names the token read
	"GET /{$}":                       true,
	"GET /ui/":                       true,
	"GET /ui":                        true,
}

// TestEveryRouteEnforcesACLs enumerates every route the router registers
// (debug routes included) on a server with ACLs on and deny by default:
// anonymous and a token of the wrong scope get 403 (a filtered list
// comes back empty; a transaction answers 409 with a permission error
// per op, as Consul does), a token holding the route's classified
// permission is not refused. A route without a classification fails
// here, as does one this test has no request for.
func TestEveryRouteEnforcesACLs(t *testing.T) {
	args := append(append([]string(nil), aclArgs...), "-hcl", "enable_debug = true")
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: args})
	srv := c.WaitForLeader(10 * time.Second)
	anon := tokenClient(t, srv, "")
	root, _, err := anon.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	admin := tokenClient(t, srv, root.SecretID)
	mustToken := func(name, rules string) string {
		t.Helper()
		if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil); err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		tok, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: name}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok.SecretID
	}
	wrong := mustToken("wrong-scope", `key_prefix "unrelated/" { policy = "write" }`)
	// ACL objects the read and update routes name (deletes name none, so
	// the fixtures stay).
	wrongPolicy, _, err := admin.ACL().PolicyReadByName("wrong-scope", nil)
	if err != nil {
		t.Fatal(err)
	}
	role, _, err := admin.ACL().RoleCreate(&api.ACLRole{Name: "fixture", Policies: []*api.ACLRolePolicyLink{{ID: wrongPolicy.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spare, _, err := admin.ACL().TokenCreate(&api.ACLToken{Description: "named by the token routes"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll := `key_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
service_prefix "" { policy = "read" }
session_prefix "" { policy = "read" }
event_prefix "" { policy = "read" }
agent_prefix "" { policy = "read" }
query_prefix "" { policy = "read" }
`
	// Fixtures the routes name.
	if err := admin.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web1", Name: "web",
		Check: &api.AgentServiceCheck{CheckID: "chk", TTL: "10m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.KV().Put(&api.KVPair{Key: "k/x", Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	sessionID, _, err := admin.Session().Create(&api.SessionEntry{Name: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	queryID, _, err := admin.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "q1", Service: api.ServiceQuery{Service: "web"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	node := srv.Name
	coord := fmt.Sprintf(`{"Node":%q,"Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.00001}}`, node)

	// What each wildcard of each route is filled with, and each body.
	fill := func(pattern string) string {
		_, path, _ := strings.Cut(pattern, " ")
		return routeWildcard.ReplaceAllStringFunc(path, func(w string) string {
			switch {
			case w == "{$}":
				return ""
			case w == "{key...}":
				return "k/x"
			case w == "{address...}":
				return "127.0.0.1:1"
			case w == "{node}" && strings.Contains(path, "force-leave"):
				return "ghost"
			case w == "{node}":
				return node
			case w == "{service}", w == "{name}" && strings.Contains(path, "/agent/"):
				return "web"
			case w == "{kind}":
				return "default"
			case w == "{name}" && strings.Contains(path, "/event/"):
				return "deploy"
			case w == "{name}" && strings.Contains(path, "/role/"):
				return "fixture"
			case w == "{name}":
				return "wrong-scope"
			case w == "{state}":
				return "any"
			case w == "{id}" && strings.Contains(path, "/agent/check/"):
				return "chk"
			case w == "{id}" && strings.HasPrefix(path, "/v1/query/"):
				return queryID
			case w == "{id}" && strings.Contains(path, "/session/"):
				return sessionID
			case w == "{id}" && strings.HasPrefix(pattern, "DELETE /v1/acl/"):
				return "00000000-0000-0000-0000-0000000000ff"
			case w == "{id}" && strings.Contains(path, "/acl/token/"):
				return spare.AccessorID
			case w == "{id}" && strings.Contains(path, "/acl/policy/"):
				return wrongPolicy.ID
			case w == "{id}" && strings.Contains(path, "/acl/role/"):
				return role.ID
			case w == "{id}":
				return "web1"
			}
			t.Fatalf("route %q: no value for %s", pattern, w)
			return ""
		})
	}
	seq := 0
	bodyFor := func(pattern string) string {
		seq++
		switch pattern {
		case "PUT /v1/txn", "POST /v1/txn":
			return `[{"KV":{"Verb":"set","Key":"k/t","Value":"dg=="}}]`
		case "PUT /v1/catalog/register":
			return `{"Node":"ext1","Address":"10.0.0.1"}`
		case "PUT /v1/catalog/deregister":
			return `{"Node":"ext1"}`
		case "PUT /v1/session/create":
			return `{"Name":"s2"}`
		case "PUT /v1/coordinate/update":
			return coord
		case "PUT /v1/agent/service/register":
			return `{"Name":"web","ID":"web2"}`
		case "PUT /v1/agent/check/register":
			return `{"Name":"c2","TTL":"10m"}`
		case "PUT /v1/agent/check/update/{id}":
			return `{"Status":"passing"}`
		case "PUT /v1/acl/token", "PUT /v1/acl/token/{id}":
			return `{"Description":"t"}`
		case "PUT /v1/acl/policy":
			return fmt.Sprintf(`{"Name":"p-%d"}`, seq)
		case "PUT /v1/acl/policy/{id}":
			return `{"Name":"wrong-scope","Rules":"key_prefix \"unrelated/\" { policy = \"write\" }"}`
		case "PUT /v1/acl/role":
			return fmt.Sprintf(`{"Name":"r-%d"}`, seq)
		case "PUT /v1/acl/role/{id}":
			return `{"Name":"fixture"}`
		case "POST /v1/query":
			return fmt.Sprintf(`{"Name":"q-%d","Service":{"Service":"web"}}`, seq)
		case "PUT /v1/query/{id}":
			return `{"Name":"q1","Service":{"Service":"web"}}`
		case "PUT /v1/kv/{key...}", "POST /v1/kv/{key...}":
			return "v"
		case "PUT /v1/agent/token/{kind}":
			return `{"Token":""}`
		}
		return ""
	}
	call := func(pattern, token string) (int, string, http.Header) {
		method, _, _ := strings.Cut(pattern, " ")
		url := "http://" + srv.HTTPAddr + fill(pattern)
		if strings.Contains(pattern, "/debug/pprof/profile") || strings.Contains(pattern, "/debug/pprof/trace") {
			url += "?seconds=1"
		}
		req, err := http.NewRequest(method, url, bytes.NewReader([]byte(bodyFor(pattern))))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("X-Consul-Token", token)
		}
		resp, err := (&http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
	}
	refused := func(code int, body string) bool {
		return code == http.StatusForbidden || (code == http.StatusConflict && strings.Contains(body, "Permission denied"))
	}

	routes := srv.Agent.RouteACLs()
	if len(routes) < 60 {
		t.Fatalf("router lists %d routes", len(routes))
	}
	checked := 0
	for _, r := range routes {
		if r.Kind == "" {
			t.Errorf("route %q has no ACL classification", r.Pattern)
			continue
		}
		if r.Kind == "public" {
			if !publicRoutes[r.Pattern] {
				t.Errorf("route %q is public; a route that needs no permission must be listed in publicRoutes", r.Pattern)
			}
			continue
		}
		right := ""
		switch {
		case r.Kind == "filter":
			right = readAll
		case r.Resource == "operator" || r.Resource == "acl" || r.Resource == "keyring":
			right = fmt.Sprintf("%s = %q", r.Resource, r.Access)
		default:
			right = readAll + fmt.Sprintf("%s_prefix \"\" { policy = %q }", r.Resource, r.Access)
		}
		rightToken := mustToken(fmt.Sprintf("right-%d", checked), right)
		checked++
		for _, who := range []struct{ name, token string }{{"anonymous", ""}, {"wrong scope", wrong}} {
			code, body, hdr := call(r.Pattern, who.token)
			switch {
			case r.Pattern == "GET /v1/query/{id}" && refused(code, body):
				// One named query the token may not read is a 403, as
				// in Consul (the list route is filtered).
			case r.Kind == "filter" && !r.PreChecked:
				if code != http.StatusOK || (body != "[]" && body != "{}" && body != "null") {
					t.Errorf("%s as %s: %d %q, want 200 and an empty list", r.Pattern, who.name, code, body)
				}
				if (r.Pattern == "GET /v1/catalog/nodes" || r.Pattern == "GET /v1/agent/members") && hdr.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
					t.Errorf("%s as %s: no X-Consul-Results-Filtered-By-ACLs", r.Pattern, who.name)
				}
			case !refused(code, body):
				t.Errorf("%s as %s: %d %q, want 403", r.Pattern, who.name, code, body)
			case code == http.StatusForbidden && !strings.HasPrefix(body, "Permission denied"):
				t.Errorf("%s as %s: 403 %q, want Consul's Permission denied text", r.Pattern, who.name, body)
			}
		}
		if r.Pattern == "PUT /v1/agent/leave" {
			continue // the agent would leave; its denial is what matters
		}
		code, body, _ := call(r.Pattern, rightToken)
		if r.Pattern == "GET /v1/agent/monitor" {
			body = "" // log lines, which may quote other requests' denials
		}
		if refused(code, body) || strings.Contains(body, "Permission denied") || strings.Contains(body, "ACL not found") {
			t.Errorf("%s with %q: %d %q, want it allowed", r.Pattern, right, code, body)
		}
	}
	t.Logf("%d classified routes checked", checked)
}

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/pb"
)

// headerFilteredByACLs is set on a list whose results the token could not
// all see.
const headerFilteredByACLs = "X-Consul-Results-Filtered-By-ACLs"

// authKind is how a route is authorized.
type authKind int

const (
	// authPublic: no permission is needed (why says why).
	authPublic authKind = iota + 1
	// authCheck: the permission is checked before the handler runs, on a
	// name taken from the request's path (or none).
	authCheck
	// authBody: the names come from the request body; the handler calls
	// Agent.allowed once it has decoded them.
	authBody
	// authFilter: a list; what the token may not read is left out (and
	// headerFilteredByACLs set). A route may check a permission first too.
	authFilter
	// authServer: the server checks the permission (the /v1/acl routes
	// carry the token to it).
	authServer
)

// routeAuth is a route's classification: what it needs, and how it is
// checked. Every route of the router has one; there is no default.
type routeAuth struct {
	kind   authKind
	res    acl.Resource
	access acl.Access
	// name returns the name the permission is checked on; nil is "".
	name func(a *Agent, r *http.Request) (string, error)
	// check overrides res/access/name with its own test (local checks
	// belong to a service or to the node).
	check func(a *Agent, r *http.Request) error
	// filter lists the fields each result element is checked on.
	filter []fieldCheck
	why    string
}

// fieldCheck needs res read on the string at path (dot-separated field
// names) of a list element; "<key>" is the element's map key and "."
// the element itself. An empty value is not checked.
type fieldCheck struct {
	res  acl.Resource
	path string
}

// route is one entry of the routing table.
type route struct {
	pattern string
	auth    routeAuth
	fn      apiFunc
}

func public(why string) routeAuth { return routeAuth{kind: authPublic, why: why} }

func need(res acl.Resource, access acl.Access, name func(*Agent, *http.Request) (string, error)) routeAuth {
	return routeAuth{kind: authCheck, res: res, access: access, name: name}
}

func body(res acl.Resource, access acl.Access) routeAuth {
	return routeAuth{kind: authBody, res: res, access: access}
}

func filtered(checks ...fieldCheck) routeAuth {
	return routeAuth{kind: authFilter, access: acl.AccessRead, filter: checks}
}

// and adds a permission checked first to a filtered route.
func (ra routeAuth) and(res acl.Resource, name func(*Agent, *http.Request) (string, error)) routeAuth {
	ra.res, ra.name = res, name
	return ra
}

func serverChecked(access acl.Access) routeAuth {
	return routeAuth{kind: authServer, res: acl.ResourceACL, access: access}
}

func pathValue(key string) func(*Agent, *http.Request) (string, error) {
	return func(_ *Agent, r *http.Request) (string, error) { return r.PathValue(key), nil }
}

func thisNode(a *Agent, _ *http.Request) (string, error) { return a.cfg.NodeName, nil }

// localServiceName names the local service of the path's id.
func localServiceName(a *Agent, r *http.Request) (string, error) {
	if s := a.local.State().Service(r.PathValue("id")); s != nil {
		return s.Service, nil
	}
	return r.PathValue("id"), nil
}

// localCheckAuth allows writing a local check: service write when it
// belongs to a service, node write otherwise.
func localCheckAuth(a *Agent, r *http.Request) error {
	c := a.local.State().Check(r.PathValue("id"))
	if c != nil && c.ServiceName != "" {
		return a.allowed(r, acl.ResourceService, acl.AccessWrite, c.ServiceName)
	}
	return a.allowed(r, acl.ResourceNode, acl.AccessWrite, a.cfg.NodeName)
}

// sessionNode names the node of the path's session, for session write.
func sessionNode(a *Agent, r *http.Request) (string, error) {
	var resp pb.SessionsResponse
	err := a.backend.RPC(r.Context(), dc.MethodSessionGet, &pb.SessionGetRequest{Query: &pb.QueryOptions{Dc: query(r).Get("dc"), Token: a.requestToken(r)}, Id: r.PathValue("id")}, &resp)
	if err != nil || len(resp.Sessions) == 0 {
		return "", err
	}
	return resp.Sessions[0].Node, nil
}

// queryName names the prepared query of the path's id (or name), for
// query read or write.
func queryName(a *Agent, r *http.Request) (string, error) {
	id := r.PathValue("id")
	var resp pb.PreparedQueriesResponse
	err := a.backend.RPC(r.Context(), dc.MethodPreparedQueryGet, &pb.PreparedQueryGetRequest{Query: &pb.QueryOptions{Dc: query(r).Get("dc"), Token: a.requestToken(r)}, Id: id}, &resp)
	if err != nil || len(resp.Queries) == 0 {
		return id, nil // unknown: checked on the name it was asked by
	}
	return resp.Queries[0].Name, nil
}

var (
	nodeField    = fieldCheck{acl.ResourceNode, "Node"}
	serviceName  = fieldCheck{acl.ResourceService, "ServiceName"}
	sessionField = fieldCheck{acl.ResourceSession, "Node"}
)

// routeTable is every HTTP route of the agent with its classification.
// The router is built from it alone.
func (a *Agent) routeTable() []route {
	key := func(_ *Agent, r *http.Request) (string, error) { return kvKey(r), nil }
	rt := []route{
		{"GET /v1/kv/{key...}", routeAuth{kind: authCheck, res: acl.ResourceKey, access: acl.AccessRead, check: kvGetAuth}, a.kvGet},
		{"PUT /v1/kv/{key...}", need(acl.ResourceKey, acl.AccessWrite, key), a.kvPut},
		{"POST /v1/kv/{key...}", need(acl.ResourceKey, acl.AccessWrite, key), a.kvPut},
		{"DELETE /v1/kv/{key...}", routeAuth{kind: authCheck, res: acl.ResourceKey, access: acl.AccessWrite, check: kvDeleteAuth}, a.kvDelete},
		{"PUT /v1/txn", body(acl.ResourceKey, acl.AccessWrite), a.txn},
		{"POST /v1/txn", body(acl.ResourceKey, acl.AccessWrite), a.txn},
		{"GET /v1/kv-replication/status", need(acl.ResourceOperator, acl.AccessRead, nil), a.kvReplicationStatus},

		// Snapshots hold every secret of the datacenter: a management
		// token's business, as in Consul.
		{"GET /v1/snapshot", need(acl.ResourceACL, acl.AccessWrite, nil), a.snapshotSave},
		{"PUT /v1/snapshot", need(acl.ResourceACL, acl.AccessWrite, nil), a.snapshotRestore},

		{"GET /v1/status/leader", public("cluster status, as in Consul"), a.statusLeader},
		{"GET /v1/status/peers", public("cluster status, as in Consul"), a.statusPeers},
		{"GET /v1/operator/raft/configuration", need(acl.ResourceOperator, acl.AccessRead, nil), a.raftConfiguration},
		{"DELETE /v1/operator/raft/peer", need(acl.ResourceOperator, acl.AccessWrite, nil), a.raftRemovePeer},
		{"POST /v1/operator/raft/transfer-leader", need(acl.ResourceOperator, acl.AccessWrite, nil), a.raftTransferLeader},
		{"GET /v1/operator/autopilot/configuration", need(acl.ResourceOperator, acl.AccessRead, nil), a.autopilotGetConfig},
		{"PUT /v1/operator/autopilot/configuration", need(acl.ResourceOperator, acl.AccessWrite, nil), a.autopilotSetConfig},
		{"GET /v1/operator/autopilot/health", need(acl.ResourceOperator, acl.AccessRead, nil), a.autopilotHealth},
		{"GET /v1/operator/autopilot/state", need(acl.ResourceOperator, acl.AccessRead, nil), a.autopilotStateHandler},
		{"GET /v1/operator/keyring", need(acl.ResourceKeyring, acl.AccessRead, nil), a.keyringList},
		{"POST /v1/operator/keyring", need(acl.ResourceKeyring, acl.AccessWrite, nil), a.keyringOp("install")},
		{"PUT /v1/operator/keyring", need(acl.ResourceKeyring, acl.AccessWrite, nil), a.keyringOp("use")},
		{"DELETE /v1/operator/keyring", need(acl.ResourceKeyring, acl.AccessWrite, nil), a.keyringOp("remove")},

		{"PUT /v1/catalog/register", body(acl.ResourceNode, acl.AccessWrite), a.catalogRegister},
		{"PUT /v1/catalog/deregister", body(acl.ResourceNode, acl.AccessWrite), a.catalogDeregister},
		{"GET /v1/catalog/datacenters", public("datacenter names, as in Consul"), a.catalogDatacenters},
		{"GET /v1/catalog/nodes", filtered(nodeField), a.catalogNodes},
		{"GET /v1/catalog/services", filtered(fieldCheck{acl.ResourceService, "<key>"}), a.catalogServices},
		{"GET /v1/catalog/service/{service}", filtered(nodeField, serviceName).and(acl.ResourceService, pathValue("service")), a.catalogService},
		{"GET /v1/catalog/node/{node}", need(acl.ResourceNode, acl.AccessRead, pathValue("node")), a.catalogNode},
		{"GET /v1/catalog/node-services/{node}", need(acl.ResourceNode, acl.AccessRead, pathValue("node")), a.catalogNodeServices},
		{"GET /v1/health/node/{node}", filtered(serviceName).and(acl.ResourceNode, pathValue("node")), a.healthNode},
		{"GET /v1/health/checks/{service}", filtered(nodeField).and(acl.ResourceService, pathValue("service")), a.healthServiceChecks},
		{"GET /v1/health/service/{service}", filtered(fieldCheck{acl.ResourceNode, "Node.Node"}).and(acl.ResourceService, pathValue("service")), a.healthService},
		{"GET /v1/health/state/{state}", filtered(nodeField, serviceName), a.healthState},

		{"PUT /v1/session/create", body(acl.ResourceSession, acl.AccessWrite), a.sessionCreate},
		{"PUT /v1/session/destroy/{id}", need(acl.ResourceSession, acl.AccessWrite, sessionNode), a.sessionDestroy},
		{"PUT /v1/session/renew/{id}", need(acl.ResourceSession, acl.AccessWrite, sessionNode), a.sessionRenew},
		{"GET /v1/session/info/{id}", filtered(sessionField), a.sessionInfo},
		{"GET /v1/session/node/{node}", filtered(sessionField), a.sessionNode},
		{"GET /v1/session/list", filtered(sessionField), a.sessionList},

		{"POST /v1/query", body(acl.ResourceQuery, acl.AccessWrite), a.queryCreate},
		{"GET /v1/query", filtered(fieldCheck{acl.ResourceQuery, "Name"}), a.queryList},
		{"GET /v1/query/{id}", filtered(fieldCheck{acl.ResourceQuery, "Name"}), a.queryGet},
		{"PUT /v1/query/{id}", need(acl.ResourceQuery, acl.AccessWrite, queryName), a.queryUpdate},
		{"DELETE /v1/query/{id}", need(acl.ResourceQuery, acl.AccessWrite, queryName), a.queryDelete},
		{"GET /v1/query/{id}/execute", need(acl.ResourceQuery, acl.AccessRead, queryName), a.queryExecute},
		{"GET /v1/query/{id}/explain", need(acl.ResourceQuery, acl.AccessRead, queryName), a.queryExplain},

		{"PUT /v1/event/fire/{name}", need(acl.ResourceEvent, acl.AccessWrite, pathValue("name")), a.eventFire},
		{"GET /v1/event/list", filtered(fieldCheck{acl.ResourceEvent, "Name"}), a.eventList},

		{"GET /v1/coordinate/datacenters", public("WAN coordinates of servers, as in Consul"), a.coordinateDatacenters},
		{"GET /v1/coordinate/nodes", filtered(nodeField), a.coordinateNodes},
		{"GET /v1/coordinate/node/{node}", need(acl.ResourceNode, acl.AccessRead, pathValue("node")), a.coordinateNode},
		{"PUT /v1/coordinate/update", body(acl.ResourceNode, acl.AccessWrite), a.coordinateUpdate},

		{"GET /v1/agent/services", filtered(fieldCheck{acl.ResourceService, "Service"}), a.agentServices},
		{"GET /v1/agent/service/{id}", need(acl.ResourceService, acl.AccessRead, localServiceName), a.agentService},
		{"PUT /v1/agent/service/register", body(acl.ResourceService, acl.AccessWrite), a.agentServiceRegister},
		{"PUT /v1/agent/service/deregister/{id}", need(acl.ResourceService, acl.AccessWrite, localServiceName), a.agentServiceDeregister},
		{"PUT /v1/agent/service/maintenance/{id}", need(acl.ResourceService, acl.AccessWrite, localServiceName), a.agentServiceMaintenance},
		{"PUT /v1/agent/maintenance", need(acl.ResourceNode, acl.AccessWrite, thisNode), a.agentNodeMaintenance},
		{"GET /v1/agent/checks", filtered(nodeField, serviceName), a.agentChecks},
		{"PUT /v1/agent/check/register", body(acl.ResourceNode, acl.AccessWrite), a.agentCheckRegister},
		{"PUT /v1/agent/check/deregister/{id}", localCheck(), a.agentCheckDeregister},
		{"PUT /v1/agent/check/pass/{id}", localCheck(), a.agentCheckTTL(health.StatusPassing)},
		{"PUT /v1/agent/check/warn/{id}", localCheck(), a.agentCheckTTL(health.StatusWarning)},
		{"PUT /v1/agent/check/fail/{id}", localCheck(), a.agentCheckTTL(health.StatusCritical)},
		{"PUT /v1/agent/check/update/{id}", localCheck(), a.agentCheckUpdate},
		{"GET /v1/agent/health/service/id/{id}", need(acl.ResourceService, acl.AccessRead, localServiceName), a.agentHealthByID},
		{"GET /v1/agent/health/service/name/{name}", need(acl.ResourceService, acl.AccessRead, pathValue("name")), a.agentHealthByName},
		{"PUT /v1/agent/reload", need(acl.ResourceAgent, acl.AccessWrite, thisNode), a.agentReload},
		{"GET /v1/agent/metrics", need(acl.ResourceAgent, acl.AccessRead, thisNode), a.agentMetricsHandler},
		{"GET /v1/agent/monitor", need(acl.ResourceAgent, acl.AccessRead, thisNode), a.agentMonitor},
		{"GET /v1/agent/self", need(acl.ResourceAgent, acl.AccessRead, thisNode), a.agentSelf},
		{"GET /v1/agent/version", public("the agent's build, as in Consul"), a.agentVersion},
		{"GET /v1/agent/members", filtered(fieldCheck{acl.ResourceNode, "Name"}), a.agentMembers},
		{"PUT /v1/agent/join/{address...}", need(acl.ResourceAgent, acl.AccessWrite, thisNode), a.agentJoin},
		{"PUT /v1/agent/leave", need(acl.ResourceAgent, acl.AccessWrite, thisNode), a.agentLeave},
		{"PUT /v1/agent/force-leave/{node}", need(acl.ResourceOperator, acl.AccessWrite, nil), a.agentForceLeave},
		{"PUT /v1/agent/token/{kind}", need(acl.ResourceACL, acl.AccessWrite, nil), a.agentTokenSet},

		{"GET /v1/internal/ui/services", filtered(fieldCheck{acl.ResourceService, "Name"}), a.uiServices},
		{"GET /v1/internal/ui/nodes", filtered(nodeField), a.uiNodes},
		{"GET /v1/internal/ui/node/{node}", need(acl.ResourceNode, acl.AccessRead, pathValue("node")), a.uiNode},
	}
	return append(rt, a.aclRoutes()...)
}

func localCheck() routeAuth {
	return routeAuth{kind: authCheck, res: acl.ResourceNode, access: acl.AccessWrite, check: localCheckAuth}
}

// kvGetAuth needs read on the key; a recursive or keys-only read is
// filtered instead (kvGet drops what the token may not read).
func kvGetAuth(a *Agent, r *http.Request) error {
	q := query(r)
	if _, ok := q["recurse"]; ok {
		return nil
	}
	if _, ok := q["keys"]; ok {
		return nil
	}
	return a.allowed(r, acl.ResourceKey, acl.AccessRead, kvKey(r))
}

// kvDeleteAuth needs write on the key, or on every key under it with
// ?recurse.
func kvDeleteAuth(a *Agent, r *http.Request) error {
	key := kvKey(r)
	if _, ok := query(r)["recurse"]; !ok {
		return a.allowed(r, acl.ResourceKey, acl.AccessWrite, key)
	}
	id, err := a.identity(r)
	if err != nil {
		return err
	}
	if !id.Authorizer.KeyWritePrefix(key) {
		return dc.PermissionDenied(id.AccessorID, acl.ResourceKey, acl.AccessWrite, key)
	}
	return nil
}

// guard runs a route's authorization around its handler.
func (a *Agent) guard(rt route) apiFunc {
	auth := rt.auth
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		if !a.aclEnabled() || auth.kind == authPublic || auth.kind == authServer {
			return rt.fn(w, r)
		}
		id, err := a.identity(r)
		if err != nil {
			return nil, err
		}
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
		switch {
		case auth.check != nil:
			err = auth.check(a, r)
		case auth.kind == authCheck || (auth.kind == authFilter && auth.name != nil):
			name := ""
			if auth.name != nil {
				if name, err = auth.name(a, r); err != nil {
					return nil, err
				}
			}
			access := auth.access
			if !id.Authorizer.Allowed(auth.res, name, access) {
				err = dc.PermissionDenied(id.AccessorID, auth.res, access, name)
			}
		}
		if err != nil {
			return nil, err
		}
		out, err := rt.fn(w, r)
		if err != nil || auth.kind != authFilter || out == nil {
			return out, err
		}
		out, removed := filterResult(id.Authorizer, auth.filter, out)
		if removed {
			w.Header().Set(headerFilteredByACLs, "true")
			filterServiceDCsHeader(w.Header(), id.Authorizer)
		}
		return out, nil
	}
}

// filterServiceDCsHeader drops from a ?dc=* catalog/services answer's
// service-to-datacenters header the services the token may not read.
func filterServiceDCsHeader(h http.Header, z *acl.Authorizer) {
	raw := h.Get(headerServiceDCs)
	if raw == "" {
		return
	}
	var m map[string][]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		h.Del(headerServiceDCs)
		return
	}
	for name := range m {
		if !z.Allowed(acl.ResourceService, name, acl.AccessRead) {
			delete(m, name)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		h.Del(headerServiceDCs)
		return
	}
	h.Set(headerServiceDCs, string(b))
}

// filterResult drops from a list (slice) or map the elements the
// authorizer may not read, and reports whether it dropped any.
func filterResult(z *acl.Authorizer, checks []fieldCheck, out any) (any, bool) {
	v := reflect.ValueOf(out)
	ok := func(key, elem reflect.Value) bool {
		for _, c := range checks {
			var s string
			switch c.path {
			case "<key>":
				s = key.String()
			case ".":
				s = elem.String()
			default:
				s = fieldString(elem, c.path)
			}
			if s != "" && !z.Allowed(c.res, s, acl.AccessRead) {
				return false
			}
		}
		return true
	}
	removed := false
	switch v.Kind() {
	case reflect.Slice:
		kept := reflect.MakeSlice(v.Type(), 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			if ok(reflect.Value{}, v.Index(i)) {
				kept = reflect.Append(kept, v.Index(i))
			} else {
				removed = true
			}
		}
		return kept.Interface(), removed
	case reflect.Map:
		kept := reflect.MakeMap(v.Type())
		it := v.MapRange()
		for it.Next() {
			if ok(it.Key(), it.Value()) {
				kept.SetMapIndex(it.Key(), it.Value())
			} else {
				removed = true
			}
		}
		return kept.Interface(), removed
	}
	return out, false
}

// fieldString follows path through struct fields (and pointers) to a
// string; "" when there is none.
func fieldString(v reflect.Value, path string) string {
	for _, name := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return ""
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return ""
		}
		v = v.FieldByName(name)
		if !v.IsValid() {
			return ""
		}
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.String {
		return ""
	}
	return v.String()
}

// filterSlice keeps the elements keep accepts.
func filterSlice[T any](in []T, keep func(T) bool) ([]T, bool) {
	out := in[:0:0]
	for _, x := range in {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out, len(out) != len(in)
}

// describe is the classification in words, for tests and errors.
func (ra routeAuth) describe() string {
	switch ra.kind {
	case authPublic:
		return "public: " + ra.why
	case authServer:
		return fmt.Sprintf("%s:%s, checked by the server", ra.res, ra.access)
	case authFilter:
		return "list filtered by read access"
	}
	return fmt.Sprintf("%s:%s", ra.res, ra.access)
}

// guardHandler checks a plain handler's permission (pprof).
func (a *Agent) guardHandler(auth routeAuth, h http.Handler) http.Handler {
	rt := route{auth: auth, fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
		h.ServeHTTP(w, r)
		return nil, nil
	}}
	return a.wrap(a.guard(rt))
}

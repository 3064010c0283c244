package agent

import (
	"log/slog"

	"github.com/meridian-io/meridian/lan"
)

// RouteACL is one route's ACL classification, for the route enumeration
// test of agent_test.
type RouteACL struct {
	Pattern  string
	Kind     string // public, check, body, filter, server; "" unclassified
	Resource string
	Access   string
	// PreChecked is a filtered list that checks a permission first.
	PreChecked bool
}

// RouteACLs lists every route the router registers with its
// classification.
func (a *Agent) RouteACLs() []RouteACL {
	_, patterns := a.router()
	var out []RouteACL
	for _, p := range patterns {
		auth, ok := a.routeAuths[p]
		r := RouteACL{Pattern: p}
		if ok {
			r.Kind = map[authKind]string{authPublic: "public", authCheck: "check", authBody: "body", authFilter: "filter", authServer: "server"}[auth.kind]
			r.Resource, r.Access, r.PreChecked = string(auth.res), auth.access.String(), auth.kind == authFilter && auth.name != nil
		}
		out = append(out, r)
	}
	return out
}

// LoggerForTest returns the agent's logger, for tests that watch what it
// logs through /v1/agent/monitor.
func (a *Agent) LoggerForTest() *slog.Logger { return a.log }

// SubscribeLAN subscribes to the agent's LAN pool events.
func (a *Agent) SubscribeLAN() (<-chan lan.Event, func()) { return a.lan.Subscribe() }

// ParkedRequests is the number of blocking reads parked off net/http now.
func (a *Agent) ParkedRequests() int64 { return a.parker.parked.Load() }

// ParkedByRead is the number of parks whose client was watched by a
// reading goroutine (none where the epoll set serves).
func (a *Agent) ParkedByRead() int64 { return a.parker.byRead.Load() }

// IdleConns is the number of answered connections held idle by the
// parker's hang-up watch.
func (a *Agent) IdleConns() int { return a.parker.hup.idleConns() }

// ParkedConns is the number of connections the parker holds for parked
// reads now.
func (a *Agent) ParkedConns() int {
	a.parker.mu.Lock()
	defer a.parker.mu.Unlock()
	return len(a.parker.conns)
}

// PersistFileName is the name of the file a registered ID is saved in.
func PersistFileName(id string) string { return persistFileName(id) }

// ServiceTokenForTest is the token service id was registered with.
func (a *Agent) ServiceTokenForTest(id string) string { return a.tokens.registered(id) }

// AgentTokenForTest is the token of the agent's own requests.
func (a *Agent) AgentTokenForTest() string { return a.tokens.agent() }

// DefaultTokenForTest is the token of requests that carry none.
func (a *Agent) DefaultTokenForTest() string { return a.tokens.userDefault() }

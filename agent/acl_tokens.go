package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/rpc"
)

// agentTokens are the tokens the agent itself holds (acl.tokens): set
// from the configuration and replaced at run time through
// PUT /v1/agent/token/<kind> (kept in memory only, as Consul without
// enable_token_persistence). A nil *agentTokens holds none.
type agentTokens struct {
	mu sync.RWMutex
	t  config.ACLTokens
	// services maps a local service's ID to the token it was registered
	// with: anti-entropy syncs the service and its checks with it.
	services map[string]string
}

func newAgentTokens(t config.ACLTokens) *agentTokens {
	return &agentTokens{t: t, services: map[string]string{}}
}

// userDefault is the token of requests (HTTP and DNS) that carry none.
func (at *agentTokens) userDefault() string {
	if at == nil {
		return ""
	}
	at.mu.RLock()
	defer at.mu.RUnlock()
	return at.t.Default
}

// agent is the token of the agent's own requests (anti-entropy of the
// node, coordinate updates): acl.tokens.agent, else the default token.
func (at *agentTokens) agent() string {
	if at == nil {
		return ""
	}
	at.mu.RLock()
	defer at.mu.RUnlock()
	if at.t.Agent != "" {
		return at.t.Agent
	}
	return at.t.Default
}

func (at *agentTokens) agentRecovery() string {
	if at == nil {
		return ""
	}
	at.mu.RLock()
	defer at.mu.RUnlock()
	return at.t.AgentRecovery
}

// service is the token anti-entropy syncs service id with: the token it
// was registered with, else the agent token.
func (at *agentTokens) service(id string) string {
	if at == nil {
		return ""
	}
	at.mu.RLock()
	t, ok := at.services[id]
	at.mu.RUnlock()
	if ok && t != "" {
		return t
	}
	return at.agent()
}

// registered is the token service id was registered with ("" for none).
func (at *agentTokens) registered(id string) string {
	if at == nil {
		return ""
	}
	at.mu.RLock()
	defer at.mu.RUnlock()
	return at.services[id]
}

func (at *agentTokens) setService(id, token string) {
	if at == nil {
		return
	}
	at.mu.Lock()
	defer at.mu.Unlock()
	if token == "" {
		delete(at.services, id)
		return
	}
	at.services[id] = token
}

// tokenKinds maps the names PUT /v1/agent/token/<kind> takes (Consul's,
// and its legacy ones) to the field they set.
var tokenKinds = map[string]func(*config.ACLTokens) *string{
	"default":                func(t *config.ACLTokens) *string { return &t.Default },
	"acl_token":              func(t *config.ACLTokens) *string { return &t.Default },
	"agent":                  func(t *config.ACLTokens) *string { return &t.Agent },
	"acl_agent_token":        func(t *config.ACLTokens) *string { return &t.Agent },
	"agent_recovery":         func(t *config.ACLTokens) *string { return &t.AgentRecovery },
	"agent_master":           func(t *config.ACLTokens) *string { return &t.AgentRecovery },
	"acl_agent_master_token": func(t *config.ACLTokens) *string { return &t.AgentRecovery },
	"replication":            func(t *config.ACLTokens) *string { return &t.Replication },
	"acl_replication_token":  func(t *config.ACLTokens) *string { return &t.Replication },
}

// agentTokenSet is PUT /v1/agent/token/<kind> with {"Token": "..."}.
func (a *Agent) agentTokenSet(w http.ResponseWriter, r *http.Request) (any, error) {
	kind := r.PathValue("kind")
	field, ok := tokenKinds[kind]
	if !ok {
		return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("Token %q is unknown", kind)}
	}
	var in struct{ Token string }
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	a.tokens.mu.Lock()
	*field(&a.tokens.t) = in.Token
	a.tokens.mu.Unlock()
	if (kind == "replication" || kind == "acl_replication_token") && a.server != nil {
		a.server.SetReplicationToken(in.Token)
	}
	if kind == "agent" || kind == "acl_agent_token" || kind == "default" || kind == "acl_token" {
		// What was blocked may go through now.
		if a.local != nil {
			a.local.Syncer().TriggerFullSync()
		}
	}
	a.log.Info("Updated agent's ACL token", "token", kind)
	return nil, nil
}

// agentRecoveryPolicy is what acl.tokens.agent_recovery may do: this
// agent's endpoints and reading nodes, even with no server reachable
// (Consul's agent recovery token).
const agentRecoveryPolicy = `agent "%s" { policy = "write" }
node_prefix "" { policy = "read" }`

// recoveryIdentity is the identity of the agent recovery token.
func (a *Agent) recoveryIdentity() dc.Identity {
	p, err := acl.Parse(fmt.Sprintf(agentRecoveryPolicy, a.cfg.NodeName))
	if err != nil {
		return dc.Identity{AccessorID: "agent-recovery", Authorizer: acl.DenyAll()}
	}
	return dc.Identity{AccessorID: "agent-recovery", Authorizer: acl.NewAuthorizer(false, p)}
}

// blockedByACLs reports whether err is a server's ACL refusal.
func blockedByACLs(err error) bool {
	return errors.Is(err, rpc.ErrPermissionDenied)
}

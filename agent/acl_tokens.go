package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/rpc"
)

// agentTokens are the tokens the agent itself holds (acl.tokens): set
// from the configuration and replaced at run time through
// PUT /v1/agent/token/<kind>. Those set through the API are kept in memory
// only, unless acl.enable_token_persistence is set (and the agent has a
// data directory): then they are also written to acl-tokens.json there,
// and at start they take the place of the configuration's, as in Consul.
// A nil *agentTokens holds none.
type agentTokens struct {
	mu sync.RWMutex
	t  config.ACLTokens
	// services maps a local service's ID to the token it was registered
	// with: anti-entropy syncs the service and its checks with it.
	services map[string]string
	// file is acl-tokens.json ("" keeps nothing); saved holds the tokens
	// set through the API, as written there.
	file  string
	saved config.ACLTokens
}

// tokensFile is the file of the tokens set through the API (Consul's name).
const tokensFile = "acl-tokens.json"

// persistedTokens is the content of tokensFile, under Consul's names.
type persistedTokens struct {
	Agent         string `json:"agent,omitempty"`
	Default       string `json:"default,omitempty"`
	AgentRecovery string `json:"agent_recovery,omitempty"`
	Replication   string `json:"replication,omitempty"`
}

func newAgentTokens(t config.ACLTokens) *agentTokens {
	return &agentTokens{t: t, services: map[string]string{}}
}

// loadAgentTokens is newAgentTokens keeping the tokens set through the API
// in file ("" for none), and taking those file already holds.
func loadAgentTokens(t config.ACLTokens, file string) (*agentTokens, error) {
	at := newAgentTokens(t)
	if file == "" {
		return at, nil
	}
	at.file = file
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return at, nil
	}
	var p persistedTokens
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: ACL tokens set through the API (%s): %w", file, err)
	}
	at.saved = config.ACLTokens{Agent: p.Agent, Default: p.Default, AgentRecovery: p.AgentRecovery, Replication: p.Replication}
	for _, f := range []func(*config.ACLTokens) *string{
		func(t *config.ACLTokens) *string { return &t.Agent },
		func(t *config.ACLTokens) *string { return &t.Default },
		func(t *config.ACLTokens) *string { return &t.AgentRecovery },
		func(t *config.ACLTokens) *string { return &t.Replication },
	} {
		if v := *f(&at.saved); v != "" {
			*f(&at.t) = v
		}
	}
	return at, nil
}

// set replaces the token field points at with one set through the API,
// and keeps it in the file, if any.
func (at *agentTokens) set(field func(*config.ACLTokens) *string, token string) error {
	at.mu.Lock()
	defer at.mu.Unlock()
	*field(&at.t) = token
	if at.file == "" {
		return nil
	}
	*field(&at.saved) = token
	data, err := json.Marshal(persistedTokens{Agent: at.saved.Agent, Default: at.saved.Default,
		AgentRecovery: at.saved.AgentRecovery, Replication: at.saved.Replication})
	if err != nil {
		return err
	}
	return writeFileDurable(at.file, data, 0o600)
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
	if err := a.tokens.set(field, in.Token); err != nil {
		return nil, fmt.Errorf("the %s token is set but could not be saved (acl.enable_token_persistence; a restart would lose it): %w", kind, err)
	}
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

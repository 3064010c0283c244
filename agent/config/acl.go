package config

import (
	"fmt"
	"time"
)

// ACLConfig is Consul's acl block.
type ACLConfig struct {
	// Set is true when some source had an acl block (a server without
	// one is warned about at start).
	Set bool
	// Enabled turns ACL enforcement on.
	Enabled bool
	// DefaultPolicy is "allow" or "deny": what no rule of a token covers.
	DefaultPolicy string
	// DownPolicy is what a secondary datacenter's servers do with global
	// tokens while the primary is unreachable, and what a client agent
	// does when no server answers: extend-cache and async-cache resolve
	// from the last copy, allow allows all but ACL management, deny
	// denies.
	DownPolicy string
	// TokenTTL is how long a client agent keeps a resolved token.
	TokenTTL time.Duration
	// EnableTokenPersistence keeps the agent's tokens set through the API
	// in the data directory, over the configuration's, across restarts.
	EnableTokenPersistence bool
	Tokens                 ACLTokens
}

// ACLTokens are the acl.tokens block.
type ACLTokens struct {
	// InitialManagement is a secret that manages everything on servers
	// (initial_management, or the deprecated master).
	InitialManagement string
	// Agent is the token the agent uses for its own requests.
	Agent string
	// Default is the token of HTTP requests that carry none.
	Default string
	// Replication is the token a secondary datacenter's leader reads the
	// primary's ACL state with (it needs acl = "read"), and a replicating
	// leader reads KV changes with (key read on its prefixes).
	Replication string
	// AgentRecovery may use this agent's /v1/agent endpoints even when no
	// server answers (agent_recovery, or the deprecated agent_master).
	AgentRecovery string
}

func defaultACLConfig() ACLConfig {
	return ACLConfig{DefaultPolicy: "allow", DownPolicy: "extend-cache", TokenTTL: 30 * time.Second}
}

type partialACL struct {
	Set, Enabled, TokenPersistence *bool
	DefaultPolicy, DownPolicy      *string
	TokenTTL                       *time.Duration
	InitialManagement, Agent, Dflt *string
	Replication, AgentRecovery     *string
}

func (p *partialACL) apply(c *ACLConfig) {
	set(&c.Set, p.Set)
	set(&c.Enabled, p.Enabled)
	set(&c.DefaultPolicy, p.DefaultPolicy)
	set(&c.DownPolicy, p.DownPolicy)
	set(&c.TokenTTL, p.TokenTTL)
	set(&c.EnableTokenPersistence, p.TokenPersistence)
	set(&c.Tokens.InitialManagement, p.InitialManagement)
	set(&c.Tokens.Agent, p.Agent)
	set(&c.Tokens.Default, p.Dflt)
	set(&c.Tokens.Replication, p.Replication)
	set(&c.Tokens.AgentRecovery, p.AgentRecovery)
}

var aclObject = object[partialACL]{
	unused: keySet("policy_ttl", "role_ttl", "enable_token_replication",
		"enable_key_list_policy", "msp_disable_bootstrap", "disabled_ttl"),
	keys: map[string]keyFunc[partialACL]{
		"enabled":                  opt(toBool, func(p *partialACL) **bool { return &p.Enabled }),
		"default_policy":           opt(toString, func(p *partialACL) **string { return &p.DefaultPolicy }),
		"down_policy":              opt(toString, func(p *partialACL) **string { return &p.DownPolicy }),
		"token_ttl":                opt(nonNegative, func(p *partialACL) **time.Duration { return &p.TokenTTL }),
		"enable_token_persistence": opt(toBool, func(p *partialACL) **bool { return &p.TokenPersistence }),
		"tokens":                   nested(aclTokensObject, func(p *partialACL) *partialACL { return p }),
	},
}

var aclTokensObject = object[partialACL]{
	unused: keySet("config_file_service_registration", "dns"),
	keys: map[string]keyFunc[partialACL]{
		"initial_management": opt(toString, func(p *partialACL) **string { return &p.InitialManagement }),
		"master":             opt(toString, func(p *partialACL) **string { return &p.InitialManagement }),
		"agent":              opt(toString, func(p *partialACL) **string { return &p.Agent }),
		"default":            opt(toString, func(p *partialACL) **string { return &p.Dflt }),
		"replication":        opt(toString, func(p *partialACL) **string { return &p.Replication }),
		"agent_recovery":     opt(toString, func(p *partialACL) **string { return &p.AgentRecovery }),
		"agent_master":       opt(toString, func(p *partialACL) **string { return &p.AgentRecovery }),
	},
}

// decodeACL reads the acl block and remembers that there was one.
func decodeACL(d *decoder, s *sourceDraft, v any, path string) error {
	yes := true
	s.p.ACL.Set = &yes
	return nested(aclObject, func(s *sourceDraft) *partialACL { return &s.p.ACL })(d, s, v, path)
}

// validateACL checks the acl block.
func validateACL(c *Config) error {
	switch c.ACL.DefaultPolicy {
	case "allow", "deny":
	default:
		return fmt.Errorf("acl.default_policy %q: want allow or deny", c.ACL.DefaultPolicy)
	}
	switch c.ACL.DownPolicy {
	case "allow", "deny", "extend-cache", "async-cache":
	default:
		return fmt.Errorf("acl.down_policy %q: want allow, deny, extend-cache or async-cache", c.ACL.DownPolicy)
	}
	return nil
}

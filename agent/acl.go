package agent

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// tokenResolver turns a request's secret into what it may do.
type tokenResolver interface {
	resolve(ctx context.Context, secret string) (dc.Identity, error)
}

// serverResolver resolves from the server's own replica of the ACL
// tables (cached there until they change).
type serverResolver struct{ s *dc.Server }

func (r serverResolver) resolve(ctx context.Context, secret string) (dc.Identity, error) {
	return r.s.ResolveToken(ctx, secret)
}

// clientResolver asks a server (ACL.Resolve) and keeps the answer for
// ttl. When no server answers, the down policy decides: extend-cache and
// async-cache use an expired entry, allow allows everything but ACL
// management, and otherwise the request is refused with the error.
type clientResolver struct {
	backend      Backend
	ttl          time.Duration
	defaultAllow bool
	downPolicy   string
	now          func() time.Time

	mu    sync.Mutex
	cache map[string]clientEntry
}

type clientEntry struct {
	id      dc.Identity
	expires time.Time
}

func (c *clientResolver) resolve(ctx context.Context, secret string) (dc.Identity, error) {
	c.mu.Lock()
	e, ok := c.cache[secret]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.id, nil
	}
	var resp pb.ACLResponse
	err := c.backend.RPC(ctx, dc.MethodACLResolve, &pb.ACLRequest{Secret: secret}, &resp)
	if err != nil {
		switch {
		case c.downPolicy == dc.DownAllow:
			return dc.Identity{AccessorID: e.id.AccessorID, Authorizer: acl.AllowAll()}, nil
		case ok && c.downPolicy != dc.DownDeny:
			return e.id, nil // extend-cache, async-cache
		}
		return dc.Identity{}, err
	}
	if !resp.Found {
		return dc.Identity{}, dc.ErrACLNotFound
	}
	id := dc.Identity{AccessorID: dc.AnonymousTokenID}
	if len(resp.Tokens) > 0 {
		id.AccessorID = resp.Tokens[0].AccessorId
	}
	if resp.Management {
		id.Authorizer = acl.ManageAll()
	} else {
		var ps []*acl.Policy
		for _, r := range resp.Rules {
			if p, err := acl.Parse(r); err == nil {
				ps = append(ps, p)
			}
		}
		id.Authorizer = acl.NewAuthorizer(c.defaultAllow, ps...)
	}
	c.mu.Lock()
	if c.cache == nil || len(c.cache) >= 4096 {
		c.cache = map[string]clientEntry{}
	}
	c.cache[secret] = clientEntry{id: id, expires: c.now().Add(c.ttl)}
	c.mu.Unlock()
	return id, nil
}

// aclEnabled reports whether this agent enforces ACLs.
func (a *Agent) aclEnabled() bool { return a.cfg.ACL.Enabled }

// defaultACLPolicy is the X-Consul-Default-ACL-Policy header's value.
func (a *Agent) defaultACLPolicy() string {
	if !a.aclEnabled() {
		return "allow"
	}
	return a.cfg.ACL.DefaultPolicy
}

// identity resolves the request's token (the agent's default token when
// it carries none).
func (a *Agent) identity(r *http.Request) (dc.Identity, error) {
	if id, ok := r.Context().Value(identityKey{}).(dc.Identity); ok {
		return id, nil
	}
	if !a.aclEnabled() || a.resolver == nil {
		return dc.Identity{AccessorID: dc.AnonymousTokenID, Authorizer: acl.ManageAll()}, nil
	}
	secret := a.requestToken(r)
	if rec := a.tokens.agentRecovery(); rec != "" && secret == rec {
		return a.recoveryIdentity(), nil
	}
	return a.resolver.resolve(r.Context(), secret)
}

type identityKey struct{}

// allowed checks that the request's token may access name of res, and
// answers Consul's 403 text when it may not.
func (a *Agent) allowed(r *http.Request, res acl.Resource, access acl.Access, name string) error {
	id, err := a.identity(r)
	if err != nil {
		return err
	}
	if !id.Authorizer.Allowed(res, name, access) {
		return dc.PermissionDenied(id.AccessorID, res, access, name)
	}
	return nil
}

// newResolver picks the resolver of this agent's role.
func (a *Agent) newResolver() tokenResolver {
	if a.server != nil {
		return serverResolver{a.server}
	}
	ttl := a.cfg.ACL.TokenTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &clientResolver{backend: a.backend, ttl: ttl, defaultAllow: a.cfg.ACL.DefaultPolicy != "deny",
		downPolicy: a.cfg.ACL.DownPolicy, now: time.Now}
}

var errNoResolver = errors.New("acl: no resolver")

// warnNoACL is the warning of a production server without an acl block.
const warnNoACL = "security: this server runs without an acl block: every request is allowed to read and write everything. " +
	`Add acl { enabled = true default_policy = "deny" } and bootstrap a token with "meridian acl bootstrap".`

// securityWarnings are what this agent logs at start and shows on
// /v1/agent/self: a server out of -dev with no acl block is open to all.
func (a *Agent) securityWarnings() []string {
	var w []string
	if a.cfg.Server && !a.cfg.Dev && !a.cfg.ACL.Set {
		w = append(w, warnNoACL)
	}
	return w
}

package dc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// Consul's well-known ACL identifiers.
const (
	// GlobalManagementPolicyID is the builtin policy that grants
	// everything; bootstrap creates it.
	GlobalManagementPolicyID = "00000000-0000-0000-0000-000000000001"
	// AnonymousTokenID is the accessor of the token of requests that
	// carry none.
	AnonymousTokenID = "00000000-0000-0000-0000-000000000002"
)

// ErrACLNotFound is a secret that names no token: 403, as Consul.
var ErrACLNotFound = fmt.Errorf("%w: ACL not found", rpc.ErrPermissionDenied)

// ACLConfig is the ACL part of a server's configuration.
type ACLConfig struct {
	// Enabled turns enforcement on; off, every request is allowed and the
	// /v1/acl endpoints answer that ACL support is disabled.
	Enabled bool
	// DefaultAllow is the default policy ("allow" true, "deny" false) for
	// what no rule of a token covers.
	DefaultAllow bool
	// InitialManagement is a secret that is a management token on every
	// server (Consul's acl.tokens.initial_management).
	InitialManagement string
	// PrimaryDatacenter owns the ACL state; "" or this datacenter's name
	// makes this one the primary. Any other datacenter's leader copies
	// the primary's policies, roles and global tokens every
	// ReplicationInterval with ReplicationToken, and its servers resolve
	// tokens from that copy, which keeps serving while the primary is
	// unreachable (down_policy extend-cache). Local tokens stay in the
	// datacenter that made them.
	PrimaryDatacenter   string
	ReplicationToken    string
	ReplicationInterval time.Duration
	// DownPolicy is what global tokens resolve to in a secondary while
	// the primary is unreachable: DownExtendCache ("" too),
	// DownAsyncCache, DownAllow or DownDeny.
	DownPolicy string
}

// DefaultACLReplicationInterval is how often a secondary datacenter's
// leader copies the primary's ACL state when the configuration says not.
const DefaultACLReplicationInterval = 5 * time.Second

func (c ACLConfig) replicationInterval() time.Duration {
	if c.ReplicationInterval > 0 {
		return c.ReplicationInterval
	}
	return DefaultACLReplicationInterval
}

// Identity is a resolved token: who it is and what it may do.
type Identity struct {
	AccessorID string
	Authorizer *acl.Authorizer
}

// aclCache holds resolved tokens; it is dropped whole whenever any ACL
// table changes, so a deleted token or an edited policy takes effect on a
// server as soon as it applies the change, and an unchanged token costs a
// map lookup and no Raft round trip.
type aclCache struct {
	mu sync.Mutex
	// down is whether the tokens were resolved with the primary down.
	down    bool
	index   uint64
	watches []<-chan struct{}
	tokens  map[string]Identity
}

// current reports whether none of the cache's watches has fired.
func (c *aclCache) current() bool {
	if c.tokens == nil {
		return false
	}
	for _, ch := range c.watches {
		select {
		case <-ch:
			return false
		default:
		}
	}
	return true
}

// maxCachedTokens bounds the cache: random secrets cannot grow it.
const maxCachedTokens = 4096

// ResolveToken returns what secret may do on this server. With ACLs
// disabled every secret manages everything; "" is the anonymous token.
func (s *Server) ResolveToken(ctx context.Context, secret string) (Identity, error) {
	if !s.cfg.ACL.Enabled {
		return Identity{AccessorID: AnonymousTokenID, Authorizer: acl.ManageAll()}, nil
	}
	if secret != "" && secret == s.cfg.ACL.InitialManagement {
		return Identity{AccessorID: "initial-management", Authorizer: acl.ManageAll()}, nil
	}
	c := &s.aclCache
	down := s.primaryDown()
	c.mu.Lock()
	if !c.current() || c.down != down {
		c.index, c.watches = s.store.ACLWatch()
		c.tokens = map[string]Identity{}
		c.down = down
	}
	idx := c.index
	id, ok := c.tokens[secret]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := s.resolveUncached(ctx, secret)
	if err != nil {
		return Identity{}, err
	}
	c.mu.Lock()
	if c.index == idx && c.down == down && len(c.tokens) < maxCachedTokens {
		c.tokens[secret] = id
	}
	c.mu.Unlock()
	return id, nil
}

func (s *Server) resolveUncached(ctx context.Context, secret string) (Identity, error) {
	if secret == "" || secret == "anonymous" {
		if id, ok := s.downIdentity(AnonymousTokenID); ok {
			return id, nil
		}
		return Identity{AccessorID: AnonymousTokenID, Authorizer: acl.NewAuthorizer(s.cfg.ACL.DefaultAllow)}, nil
	}
	tok, err := s.tokenBySecret(ctx, secret)
	if err != nil {
		return Identity{}, err
	}
	if !tok.Local {
		if id, ok := s.downIdentity(tok.AccessorId); ok {
			return id, nil
		}
	}
	mgmt, rules, err := s.tokenRules(tok)
	if err != nil {
		return Identity{}, err
	}
	if mgmt {
		return Identity{AccessorID: tok.AccessorId, Authorizer: acl.ManageAll()}, nil
	}
	var policies []*acl.Policy
	for _, r := range rules {
		p, err := acl.Parse(r)
		if err != nil {
			// Stored rules were checked when written; skip what no
			// longer parses rather than fail every request.
			s.log.Warn("acl: stored policy does not parse", "error", err)
			continue
		}
		policies = append(policies, p)
	}
	return Identity{AccessorID: tok.AccessorId, Authorizer: acl.NewAuthorizer(s.cfg.ACL.DefaultAllow, policies...)}, nil
}

// tokenBySecret finds the token of secret. A secret this server does
// not know may be a token just created through another server: it asks
// the leader for a read index and looks again once its store has caught
// up (only unknown secrets pay this round).
func (s *Server) tokenBySecret(ctx context.Context, secret string) (*pb.ACLToken, error) {
	tok, err := s.store.ACLTokenBySecret(nil, secret)
	if err != nil || tok != nil {
		return tok, err
	}
	if err := s.linearize(ctx); err != nil {
		return nil, err
	}
	tok, err = s.store.ACLTokenBySecret(nil, secret)
	if err == nil && tok == nil {
		err = ErrACLNotFound
	}
	return tok, err
}

// tokenRules returns whether tok is a management token and the rules of
// every policy it holds, directly and through its roles. Links to
// deleted policies and roles are skipped.
func (s *Server) tokenRules(tok *pb.ACLToken) (bool, []string, error) {
	links := append([]*pb.ACLLink(nil), tok.Policies...)
	for _, rl := range tok.Roles {
		_, role, err := s.store.ACLRole(nil, rl.Id, false)
		if err != nil {
			return false, nil, err
		}
		if role != nil {
			links = append(links, role.Policies...)
		}
	}
	var rules []string
	for _, l := range links {
		if l.Id == GlobalManagementPolicyID {
			return true, nil, nil
		}
		_, p, err := s.store.ACLPolicy(nil, l.Id, false)
		if err != nil {
			return false, nil, err
		}
		if p != nil && (len(p.Datacenters) == 0 || contains(p.Datacenters, s.cfg.Datacenter)) {
			rules = append(rules, p.Rules)
		}
	}
	return false, rules, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PermissionDenied is Consul's 403 text for an identity lacking access.
func PermissionDenied(accessor string, res acl.Resource, access acl.Access, name string) error {
	perm := fmt.Sprintf("%s:%s", res, access)
	if name == "" {
		return fmt.Errorf("%w: token with AccessorID '%s' lacks permission '%s'", rpc.ErrPermissionDenied, accessor, perm)
	}
	return fmt.Errorf("%w: token with AccessorID '%s' lacks permission '%s' on %q", rpc.ErrPermissionDenied, accessor, perm, name)
}

// authorize resolves secret and checks it may access name of res.
func (s *Server) authorize(ctx context.Context, secret string, res acl.Resource, access acl.Access, name string) (Identity, error) {
	id, err := s.ResolveToken(ctx, secret)
	if err != nil {
		return id, err
	}
	if !id.Authorizer.Allowed(res, name, access) {
		return id, PermissionDenied(id.AccessorID, res, access, name)
	}
	return id, nil
}

// errACLDisabled answers the /v1/acl endpoints when ACLs are off.
var errACLDisabled = errors.New("ACL support disabled")

// KVOpAllowed reports whether z may run the KV operation op (of a KV
// write or a transaction): reads need key read, writes key write, and a
// recursive delete write on every key under its prefix.
func KVOpAllowed(z *acl.Authorizer, op *pb.KVOp) bool {
	key := op.GetEntry().GetKey()
	switch op.GetVerb() {
	case pb.KVVerb_KV_GET, pb.KVVerb_KV_GET_OR_EMPTY, pb.KVVerb_KV_CHECK_INDEX,
		pb.KVVerb_KV_CHECK_SESSION, pb.KVVerb_KV_CHECK_NOT_EXISTS:
		return z.Allowed(acl.ResourceKey, key, acl.AccessRead)
	case pb.KVVerb_KV_GET_TREE:
		return z.Allowed(acl.ResourceKey, key, acl.AccessList) || z.Allowed(acl.ResourceKey, key, acl.AccessRead)
	case pb.KVVerb_KV_DELETE_TREE:
		return z.KeyWritePrefix(key)
	}
	return z.Allowed(acl.ResourceKey, key, acl.AccessWrite)
}

// SetReplicationToken replaces acl.tokens.replication from now on: the
// token a secondary's leader reads the primary's ACL state with and a
// replicating leader asks KV.Changes with.
func (s *Server) SetReplicationToken(token string) { s.replToken.Store(&token) }

func (s *Server) replicationToken() string {
	if p := s.replToken.Load(); p != nil {
		return *p
	}
	return s.cfg.ACL.ReplicationToken
}

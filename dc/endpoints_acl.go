package dc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// ACL RPC methods. Every one takes a pb.ACLRequest and answers a
// pb.ACLResponse.
const (
	MethodACLBootstrap    = "ACL.Bootstrap"
	MethodACLResolve      = "ACL.Resolve"
	MethodACLTokenSet     = "ACL.TokenSet"
	MethodACLTokenGet     = "ACL.TokenRead"
	MethodACLTokenSelf    = "ACL.TokenSelf"
	MethodACLTokenList    = "ACL.TokenList"
	MethodACLTokenDelete  = "ACL.TokenDelete"
	MethodACLPolicySet    = "ACL.PolicySet"
	MethodACLPolicyGet    = "ACL.PolicyRead"
	MethodACLPolicyList   = "ACL.PolicyList"
	MethodACLPolicyDelete = "ACL.PolicyDelete"
	MethodACLRoleSet      = "ACL.RoleSet"
	MethodACLRoleGet      = "ACL.RoleRead"
	MethodACLRoleList     = "ACL.RoleList"
	MethodACLRoleDelete   = "ACL.RoleDelete"
)

func (s *Server) registerACLEndpoints() {
	register(s, MethodACLBootstrap, s.aclBootstrap)
	register(s, MethodACLResolve, s.aclResolve)
	register(s, MethodACLTokenSet, s.aclTokenSet)
	register(s, MethodACLTokenGet, s.aclTokenGet)
	register(s, MethodACLTokenSelf, s.aclTokenSelf)
	register(s, MethodACLTokenList, s.aclTokenList)
	register(s, MethodACLTokenDelete, s.aclDelete(MethodACLTokenDelete))
	register(s, MethodACLPolicySet, s.aclPolicySet)
	register(s, MethodACLPolicyGet, s.aclPolicyGet)
	register(s, MethodACLPolicyList, s.aclPolicyList)
	register(s, MethodACLPolicyDelete, s.aclDelete(MethodACLPolicyDelete))
	register(s, MethodACLRoleSet, s.aclRoleSet)
	register(s, MethodACLRoleGet, s.aclRoleGet)
	register(s, MethodACLRoleList, s.aclRoleList)
	register(s, MethodACLRoleDelete, s.aclDelete(MethodACLRoleDelete))
}

func aclBad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{rpc.ErrBadRequest}, args...)...)
}

func (s *Server) aclEnabled() error {
	if !s.cfg.ACL.Enabled {
		return fmt.Errorf("%w: %w", rpc.ErrBadRequest, errACLDisabled)
	}
	return nil
}

// isPrimary reports whether this datacenter owns the ACL state.
func (s *Server) isPrimary() bool {
	p := s.cfg.ACL.PrimaryDatacenter
	return p == "" || p == s.cfg.Datacenter
}

// toPrimary sends a write of global ACL state to the primary
// datacenter (a no-op there).
func (s *Server) toPrimary(req *pb.ACLRequest) {
	if s.isPrimary() {
		return
	}
	if req.Write == nil {
		req.Write = &pb.WriteOptions{}
	}
	if req.Write.Dc == "" {
		req.Write.Dc = s.cfg.ACL.PrimaryDatacenter
	}
}

func (s *Server) applyACL(ctx context.Context, c *pb.ACLCommand) (uint64, error) {
	res, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_Acl{Acl: c}})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// aclBootstrap creates the first management token, once.
func (s *Server) aclBootstrap(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclEnabled(); err != nil {
		return err
	}
	s.toPrimary(req)
	if done, err := s.forwardWrite(ctx, MethodACLBootstrap, req.Write, req, resp); done {
		return err
	}
	if ok, err := s.store.ACLBootstrapped(); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %w (reset index: %d)", rpc.ErrPermissionDenied, store.ErrACLBootstrapDone, s.store.ACLIndex(nil))
	}
	if _, p, err := s.store.ACLPolicy(nil, GlobalManagementPolicyID, false); err != nil {
		return err
	} else if p == nil {
		gm := &pb.ACLPolicy{Id: GlobalManagementPolicyID, Name: "global-management", Description: "Builtin Policy that grants unlimited access"}
		if _, err := s.applyACL(ctx, &pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: gm}}); err != nil {
			return err
		}
	}
	tok := &pb.ACLToken{
		AccessorId:  newUUID(),
		SecretId:    newUUID(),
		Description: "Bootstrap Token (Global Management)",
		Policies:    []*pb.ACLLink{{Id: GlobalManagementPolicyID, Name: "global-management"}},
	}
	if _, err := s.applyACL(ctx, &pb.ACLCommand{Op: &pb.ACLCommand_Bootstrap{Bootstrap: tok}}); err != nil {
		if strings.Contains(err.Error(), store.ErrACLBootstrapDone.Error()) {
			return fmt.Errorf("%w: %w", rpc.ErrPermissionDenied, store.ErrACLBootstrapDone)
		}
		return err
	}
	return s.tokenAnswer(tok.AccessorId, resp)
}

// aclResolve tells an agent what a secret may do: whether it manages
// everything and the rules of its policies.
func (s *Server) aclResolve(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	resp.Meta = &pb.QueryMeta{}
	if !s.cfg.ACL.Enabled {
		resp.Found, resp.Management = true, true
		return nil
	}
	if req.Secret != "" && req.Secret == s.cfg.ACL.InitialManagement {
		resp.Found, resp.Management = true, true
		resp.Tokens = []*pb.ACLToken{{AccessorId: "initial-management"}}
		return nil
	}
	if req.Secret == "" || req.Secret == "anonymous" {
		resp.Found = true
		resp.Tokens = []*pb.ACLToken{{AccessorId: AnonymousTokenID}}
		if id, ok := s.downIdentity(AnonymousTokenID); ok {
			resp.Rules = downRules(id.Authorizer)
		}
		return nil
	}
	tok, err := s.tokenBySecret(ctx, req.Secret)
	if errors.Is(err, ErrACLNotFound) {
		return nil // found stays false
	}
	if err != nil {
		return err
	}
	if id, ok := s.downIdentity(tok.AccessorId); ok && !tok.Local {
		resp.Found, resp.Rules = true, downRules(id.Authorizer)
		resp.Tokens = []*pb.ACLToken{{AccessorId: tok.AccessorId}}
		return nil
	}
	mgmt, rules, err := s.tokenRules(tok)
	if err != nil {
		return err
	}
	resp.Found, resp.Management, resp.Rules = true, mgmt, rules
	resp.Tokens = []*pb.ACLToken{{AccessorId: tok.AccessorId}}
	return nil
}

// localToken reports whether accessor names a token local to this
// datacenter (written here, not in the primary).
func (s *Server) localToken(accessor string) bool {
	if accessor == "" {
		return false
	}
	_, tok, err := s.store.ACLToken(nil, accessor)
	return err == nil && tok != nil && tok.Local
}

// token returns the caller's secret of a request.
func reqToken(req *pb.ACLRequest) string {
	if t := req.Write.GetToken(); t != "" {
		return t
	}
	return req.Query.GetToken()
}

func (s *Server) aclAllowed(ctx context.Context, req *pb.ACLRequest, access acl.Access) error {
	if err := s.aclEnabled(); err != nil {
		return err
	}
	_, err := s.authorize(ctx, reqToken(req), acl.ResourceACL, access, "")
	return err
}

// resolveLinks fills in the ID of each link given by name, and checks
// each exists; what returns is what is stored.
func (s *Server) resolveLinks(links []*pb.ACLLink, roles bool) ([]*pb.ACLLink, error) {
	kind := "policy"
	if roles {
		kind = "role"
	}
	var out []*pb.ACLLink
	seen := map[string]bool{}
	for _, l := range links {
		key, byName := l.Id, false
		if key == "" {
			key, byName = l.Name, true
		}
		if key == "" {
			return nil, aclBad("%s link with neither ID nor Name", kind)
		}
		var id, name string
		if roles {
			_, r, err := s.store.ACLRole(nil, key, byName)
			if err != nil {
				return nil, err
			}
			if r != nil {
				id, name = r.Id, r.Name
			}
		} else {
			_, p, err := s.store.ACLPolicy(nil, key, byName)
			if err != nil {
				return nil, err
			}
			if p != nil {
				id, name = p.Id, p.Name
			}
		}
		if id == "" {
			return nil, aclBad("cannot find %s %s", kind, key)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, &pb.ACLLink{Id: id, Name: name})
		}
	}
	return out, nil
}

func (s *Server) aclTokenSet(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessWrite); err != nil {
		return err
	}
	if req.Token == nil {
		return aclBad("missing token")
	}
	if !req.Token.Local && !s.localToken(req.Id) {
		s.toPrimary(req)
	}
	if done, err := s.forwardWrite(ctx, MethodACLTokenSet, req.Write, req, resp); done {
		return err
	}
	in := req.Token
	tok := &pb.ACLToken{AccessorId: in.AccessorId, SecretId: in.SecretId, Description: in.Description, Local: in.Local}
	if req.Id != "" { // update
		_, old, err := s.store.ACLToken(nil, req.Id)
		if err != nil {
			return err
		}
		if old == nil {
			return aclBad("Cannot find token %q", req.Id)
		}
		if tok.AccessorId != "" && !strings.EqualFold(tok.AccessorId, old.AccessorId) {
			return aclBad("Token Accessor ID in URL and payload do not match")
		}
		if tok.SecretId != "" && tok.SecretId != old.SecretId {
			return aclBad("Changing a tokens SecretID is not permitted")
		}
		if tok.Local != old.Local {
			return aclBad("Cannot toggle local mode of %s", old.AccessorId)
		}
		tok.AccessorId, tok.SecretId, tok.CreateTimeUnixNano = old.AccessorId, old.SecretId, old.CreateTimeUnixNano
	} else {
		if tok.AccessorId == "" {
			tok.AccessorId = newUUID()
		} else if _, old, err := s.store.ACLToken(nil, tok.AccessorId); err != nil {
			return err
		} else if old != nil {
			return aclBad("Invalid Token: AccessorID is already in use")
		}
		if tok.SecretId == "" {
			tok.SecretId = newUUID()
		}
	}
	var err error
	if tok.Policies, err = s.resolveLinks(in.Policies, false); err != nil {
		return err
	}
	if tok.Roles, err = s.resolveLinks(in.Roles, true); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(tok.Description + "\x00" + fmt.Sprint(tok.Policies, tok.Roles, tok.Local)))
	tok.Hash = hex.EncodeToString(sum[:16])
	if _, err := s.applyACL(ctx, &pb.ACLCommand{Op: &pb.ACLCommand_TokenSet{TokenSet: tok}}); err != nil {
		return err
	}
	return s.tokenAnswer(tok.AccessorId, resp)
}

// tokenAnswer reads back a token with its links' current names.
func (s *Server) tokenAnswer(accessor string, resp *pb.ACLResponse) error {
	idx, tok, err := s.store.ACLToken(nil, accessor)
	if err != nil {
		return err
	}
	if tok == nil {
		return ErrACLNotFound
	}
	resp.Index = idx
	resp.Tokens = []*pb.ACLToken{s.withLinkNames(tok)}
	return nil
}

// withLinkNames returns a copy of tok naming its policies and roles as
// they are named now.
func (s *Server) withLinkNames(tok *pb.ACLToken) *pb.ACLToken {
	out := &pb.ACLToken{AccessorId: tok.AccessorId, SecretId: tok.SecretId, Description: tok.Description, Local: tok.Local,
		CreateTimeUnixNano: tok.CreateTimeUnixNano, Hash: tok.Hash, CreateIndex: tok.CreateIndex, ModifyIndex: tok.ModifyIndex}
	for _, l := range tok.Policies {
		if _, p, _ := s.store.ACLPolicy(nil, l.Id, false); p != nil {
			out.Policies = append(out.Policies, &pb.ACLLink{Id: p.Id, Name: p.Name})
		}
	}
	for _, l := range tok.Roles {
		if _, r, _ := s.store.ACLRole(nil, l.Id, false); r != nil {
			out.Roles = append(out.Roles, &pb.ACLLink{Id: r.Id, Name: r.Name})
		}
	}
	return out
}

func (s *Server) aclTokenGet(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessRead); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLTokenGet, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.tokenAnswer(req.Id, resp)
}

// aclTokenSelf reads the caller's own token: no permission but the
// secret is needed.
func (s *Server) aclTokenSelf(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclEnabled(); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLTokenSelf, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	tok, err := s.tokenBySecret(ctx, reqToken(req))
	if err != nil {
		return err
	}
	return s.tokenAnswer(tok.AccessorId, resp)
}

func (s *Server) aclTokenList(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessRead); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLTokenList, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		idx, toks, err := s.store.ACLTokens(ws)
		resp.Tokens = resp.Tokens[:0]
		for _, t := range toks {
			resp.Tokens = append(resp.Tokens, s.withLinkNames(t))
		}
		resp.Index = idx
		return idx, err
	})
}

func (s *Server) aclPolicySet(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessWrite); err != nil {
		return err
	}
	in := req.Policy
	if in == nil || in.Name == "" {
		return aclBad("Invalid Policy: no Name is set")
	}
	if _, err := acl.Parse(in.Rules); err != nil {
		return aclBad("Invalid Policy: %v", err)
	}
	s.toPrimary(req)
	if done, err := s.forwardWrite(ctx, MethodACLPolicySet, req.Write, req, resp); done {
		return err
	}
	p := &pb.ACLPolicy{Id: in.Id, Name: in.Name, Description: in.Description, Rules: in.Rules, Datacenters: in.Datacenters}
	if req.Id != "" {
		if p.Id != "" && !strings.EqualFold(p.Id, req.Id) {
			return aclBad("Policy ID in URL and payload do not match")
		}
		p.Id = req.Id
	}
	if p.Id == "" {
		p.Id = newUUID()
	} else if _, old, err := s.store.ACLPolicy(nil, p.Id, false); err != nil {
		return err
	} else if old == nil {
		return aclBad("Cannot find policy %q", p.Id)
	} else if old.Id == GlobalManagementPolicyID && (p.Rules != old.Rules || p.Name != old.Name) {
		return aclBad("Changing the Rules or Name of the builtin global-management policy is not permitted")
	}
	if _, err := s.applyACL(ctx, &pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: p}}); err != nil {
		return err
	}
	idx, stored, err := s.store.ACLPolicy(nil, p.Id, false)
	if err != nil {
		return err
	}
	resp.Index, resp.Policies = idx, []*pb.ACLPolicy{stored}
	return nil
}

func (s *Server) aclPolicyGet(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessRead); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLPolicyGet, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	key, byName := req.Id, false
	if key == "" {
		key, byName = req.Name, true
	}
	idx, p, err := s.store.ACLPolicy(nil, key, byName)
	if err != nil {
		return err
	}
	if p == nil {
		return ErrACLNotFound
	}
	resp.Index, resp.Policies = idx, []*pb.ACLPolicy{p}
	return nil
}

func (s *Server) aclPolicyList(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessRead); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLPolicyList, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		idx, ps, err := s.store.ACLPolicies(ws)
		resp.Index, resp.Policies = idx, ps
		return idx, err
	})
}

func (s *Server) aclRoleSet(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessWrite); err != nil {
		return err
	}
	in := req.Role
	if in == nil || in.Name == "" {
		return aclBad("Invalid Role: no Name is set")
	}
	s.toPrimary(req)
	if done, err := s.forwardWrite(ctx, MethodACLRoleSet, req.Write, req, resp); done {
		return err
	}
	r := &pb.ACLRole{Id: in.Id, Name: in.Name, Description: in.Description}
	if req.Id != "" {
		r.Id = req.Id
	}
	if r.Id == "" {
		r.Id = newUUID()
	} else if _, old, err := s.store.ACLRole(nil, r.Id, false); err != nil {
		return err
	} else if old == nil {
		return aclBad("Cannot find role %q", r.Id)
	}
	var err error
	if r.Policies, err = s.resolveLinks(in.Policies, false); err != nil {
		return err
	}
	if _, err := s.applyACL(ctx, &pb.ACLCommand{Op: &pb.ACLCommand_RoleSet{RoleSet: r}}); err != nil {
		return err
	}
	idx, stored, err := s.store.ACLRole(nil, r.Id, false)
	if err != nil {
		return err
	}
	resp.Index, resp.Roles = idx, []*pb.ACLRole{stored}
	return nil
}

func (s *Server) aclRoleGet(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessRead); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLRoleGet, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	key, byName := req.Id, false
	if key == "" {
		key, byName = req.Name, true
	}
	idx, r, err := s.store.ACLRole(nil, key, byName)
	if err != nil {
		return err
	}
	if r == nil {
		return ErrACLNotFound
	}
	resp.Index, resp.Roles = idx, []*pb.ACLRole{r}
	return nil
}

func (s *Server) aclRoleList(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
	if err := s.aclAllowed(ctx, req, acl.AccessRead); err != nil {
		return err
	}
	if done, err := s.forwardQuery(ctx, MethodACLRoleList, req.Query, req, resp); done {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		idx, rs, err := s.store.ACLRoles(ws)
		resp.Index, resp.Roles = idx, rs
		return idx, err
	})
}

// aclDelete deletes a token, policy or role by id.
func (s *Server) aclDelete(method string) func(context.Context, *pb.ACLRequest, *pb.ACLResponse) error {
	return func(ctx context.Context, req *pb.ACLRequest, resp *pb.ACLResponse) error {
		if err := s.aclAllowed(ctx, req, acl.AccessWrite); err != nil {
			return err
		}
		if req.Id == "" {
			return aclBad("Missing ID")
		}
		if method != MethodACLTokenDelete || !s.localToken(req.Id) {
			s.toPrimary(req)
		}
		if done, err := s.forwardWrite(ctx, method, req.Write, req, resp); done {
			return err
		}
		var c pb.ACLCommand
		switch method {
		case MethodACLTokenDelete:
			c.Op = &pb.ACLCommand_TokenDelete{TokenDelete: req.Id}
		case MethodACLPolicyDelete:
			if strings.EqualFold(req.Id, GlobalManagementPolicyID) {
				return aclBad("Delete operation not permitted on the builtin global-management policy")
			}
			c.Op = &pb.ACLCommand_PolicyDelete{PolicyDelete: req.Id}
		case MethodACLRoleDelete:
			c.Op = &pb.ACLCommand_RoleDelete{RoleDelete: req.Id}
		default:
			return errors.New("acl: unknown delete method " + method)
		}
		idx, err := s.applyACL(ctx, &c)
		resp.Index = idx
		return err
	}
}

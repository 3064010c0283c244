package dc

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// replicateACLs makes this datacenter's ACL state a copy of the
// primary's: policies, roles and global tokens are set or deleted to
// match; local tokens are left alone. It runs on the leader of a
// datacenter that is not the primary. An unreachable primary changes
// nothing: tokens keep resolving from the last copy.
func (s *Server) replicateACLs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RPCHoldTimeout)
	defer cancel()
	primary := s.cfg.ACL.PrimaryDatacenter
	list := func(method string) (*pb.ACLResponse, error) {
		req := &pb.ACLRequest{Query: &pb.QueryOptions{Dc: primary, Token: s.replicationToken()}}
		var resp pb.ACLResponse
		_, err := s.forwardDC(ctx, method, primary, true, req, &resp)
		return &resp, err
	}
	pols, err := list(MethodACLPolicyList)
	if err != nil {
		return err
	}
	roles, err := list(MethodACLRoleList)
	if err != nil {
		return err
	}
	toks, err := list(MethodACLTokenList)
	if err != nil {
		return err
	}

	var cmds []*pb.ACLCommand
	// Policies and roles first, so tokens link to what exists.
	_, localPols, err := s.store.ACLPolicies(nil)
	if err != nil {
		return err
	}
	cmds = append(cmds, diff(pols.Policies, localPols,
		func(p *pb.ACLPolicy) string { return p.Id },
		func(a, b *pb.ACLPolicy) bool {
			return a.Name == b.Name && a.Description == b.Description && a.Rules == b.Rules && slices.Equal(a.Datacenters, b.Datacenters)
		},
		func(p *pb.ACLPolicy) *pb.ACLCommand {
			return &pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: p}}
		},
		func(id string) *pb.ACLCommand {
			return &pb.ACLCommand{Op: &pb.ACLCommand_PolicyDelete{PolicyDelete: id}}
		})...)
	_, localRoles, err := s.store.ACLRoles(nil)
	if err != nil {
		return err
	}
	cmds = append(cmds, diff(roles.Roles, localRoles,
		func(r *pb.ACLRole) string { return r.Id },
		func(a, b *pb.ACLRole) bool {
			return a.Name == b.Name && a.Description == b.Description && linksEqual(a.Policies, b.Policies)
		},
		func(r *pb.ACLRole) *pb.ACLCommand { return &pb.ACLCommand{Op: &pb.ACLCommand_RoleSet{RoleSet: r}} },
		func(id string) *pb.ACLCommand { return &pb.ACLCommand{Op: &pb.ACLCommand_RoleDelete{RoleDelete: id}} })...)
	_, localToks, err := s.store.ACLTokens(nil)
	if err != nil {
		return err
	}
	global := func(in []*pb.ACLToken) []*pb.ACLToken {
		return slices.DeleteFunc(slices.Clone(in), func(t *pb.ACLToken) bool { return t.Local })
	}
	cmds = append(cmds, diff(global(toks.Tokens), global(localToks),
		func(t *pb.ACLToken) string { return t.AccessorId },
		func(a, b *pb.ACLToken) bool {
			return a.SecretId == b.SecretId && a.Description == b.Description &&
				linksEqual(a.Policies, b.Policies) && linksEqual(a.Roles, b.Roles)
		},
		func(t *pb.ACLToken) *pb.ACLCommand { return &pb.ACLCommand{Op: &pb.ACLCommand_TokenSet{TokenSet: t}} },
		func(id string) *pb.ACLCommand { return &pb.ACLCommand{Op: &pb.ACLCommand_TokenDelete{TokenDelete: id}} })...)
	for _, c := range cmds {
		if _, err := s.applyACL(ctx, c); err != nil {
			return err
		}
	}
	if len(cmds) > 0 {
		s.log.Debug("acl replication applied changes", "primary", primary, "changes", len(cmds))
	}
	s.aclRepl.succeeded(s.clock.Now(), pols.GetIndex(), roles.GetIndex(), toks.GetIndex())
	return nil
}

// diff returns the commands that turn local into remote: a set for
// each remote row missing or different locally, a delete for each local
// row the remote lacks. Rows are copied without their indexes.
func diff[T proto.Message](remote, local []T, id func(T) string, same func(a, b T) bool,
	set func(T) *pb.ACLCommand, del func(string) *pb.ACLCommand) []*pb.ACLCommand {
	have := map[string]T{}
	for _, l := range local {
		have[id(l)] = l
	}
	var out []*pb.ACLCommand
	seen := map[string]bool{}
	for _, r := range remote {
		seen[id(r)] = true
		if l, ok := have[id(r)]; ok && same(l, r) {
			continue
		}
		out = append(out, set(proto.Clone(r).(T)))
	}
	for _, l := range local {
		if !seen[id(l)] {
			out = append(out, del(id(l)))
		}
	}
	return out
}

func linksEqual(a, b []*pb.ACLLink) bool {
	return slices.EqualFunc(a, b, func(x, y *pb.ACLLink) bool { return x.Id == y.Id })
}

// aclReplStats is what a server knows of its copying of the primary's
// ACLs: the leader of a secondary datacenter runs it.
type aclReplStats struct {
	mu                     sync.Mutex
	running                bool
	policyIdx, roleIdx     uint64
	tokenIdx               uint64
	lastSuccess, lastError time.Time
	lastErrMsg             string
}

func (st *aclReplStats) setRunning(on bool) {
	st.mu.Lock()
	st.running = on
	st.mu.Unlock()
}

func (st *aclReplStats) succeeded(at time.Time, policies, roles, tokens uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastSuccess, st.policyIdx, st.roleIdx, st.tokenIdx = at, policies, roles, tokens
}

func (st *aclReplStats) failed(at time.Time, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastError, st.lastErrMsg = at, err.Error()
}

// ACLReplicationStatus reports this server's view of ACL replication: the
// leader's is current, a follower's says it is not running. Replication
// is enabled in a secondary datacenter with ACLs on.
func (s *Server) ACLReplicationStatus() *pb.ACLReplicationStatus {
	out := &pb.ACLReplicationStatus{Enabled: s.cfg.ACL.Enabled && !s.isPrimary()}
	if !out.Enabled {
		return out
	}
	out.SourceDatacenter = s.cfg.ACL.PrimaryDatacenter
	st := &s.aclRepl
	st.mu.Lock()
	defer st.mu.Unlock()
	out.Running = st.running
	out.ReplicatedIndex, out.ReplicatedRoleIndex, out.ReplicatedTokenIndex = st.policyIdx, st.roleIdx, st.tokenIdx
	if !st.lastSuccess.IsZero() {
		out.LastSuccessUnixNano = st.lastSuccess.UnixNano()
	}
	if !st.lastError.IsZero() {
		out.LastErrorUnixNano = st.lastError.UnixNano()
		out.LastErrorMessage = st.lastErrMsg
	}
	return out
}

// aclReplicationStatus answers ACL.ReplicationStatus from the leader.
func (s *Server) aclReplicationStatus(ctx context.Context, req *pb.ACLReplicationStatusRequest, resp *pb.ACLReplicationStatus) error {
	if done, err := s.forwardRead(ctx, MethodACLReplicationStatus, req.Query, req, resp); done {
		return err
	}
	st := s.ACLReplicationStatus()
	st.Meta = &pb.QueryMeta{}
	s.setQueryMeta(st.Meta)
	proto.Merge(resp, st)
	return nil
}

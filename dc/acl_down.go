package dc

import (
	"context"
	"errors"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// Down policies: what a secondary datacenter's servers do with global
// tokens (and the anonymous one) while the primary is unreachable.
// Local tokens keep resolving from this datacenter's own state.
const (
	// DownExtendCache resolves from the last replicated copy (default).
	DownExtendCache = "extend-cache"
	// DownAsyncCache is extend-cache here: resolution never waits for
	// the primary, so there is nothing to refresh in the background.
	DownAsyncCache = "async-cache"
	// DownAllow allows everything but ACL management.
	DownAllow = "allow"
	// DownDeny denies everything.
	DownDeny = "deny"
)

// primaryDown reports whether this server last failed to reach the
// primary datacenter (never in the primary itself).
func (s *Server) primaryDown() bool {
	return !s.isPrimary() && s.aclPrimaryDown.Load()
}

// setPrimaryReachable records the outcome of a call to the primary; a
// change drops the resolved tokens so the down policy takes effect (or
// stops) on the next request.
func (s *Server) setPrimaryReachable(ok bool) {
	if s.aclPrimaryDown.Swap(!ok) == !ok {
		return
	}
	if ok {
		s.log.Info("acl: the primary datacenter is reachable again", "primary", s.cfg.ACL.PrimaryDatacenter)
	} else {
		s.log.Warn("acl: the primary datacenter is unreachable; global tokens follow the down policy",
			"primary", s.cfg.ACL.PrimaryDatacenter, "down_policy", s.downPolicy())
	}
	s.aclCache.mu.Lock()
	s.aclCache.tokens = nil
	s.aclCache.mu.Unlock()
}

func (s *Server) downPolicy() string {
	if s.cfg.ACL.DownPolicy == "" {
		return DownExtendCache
	}
	return s.cfg.ACL.DownPolicy
}

// downIdentity is what a global or anonymous token may do while the
// primary is down: ok is false when the down policy changes nothing.
func (s *Server) downIdentity(accessor string) (Identity, bool) {
	if !s.primaryDown() {
		return Identity{}, false
	}
	switch s.downPolicy() {
	case DownAllow:
		return Identity{AccessorID: accessor, Authorizer: acl.AllowAll()}, true
	case DownDeny:
		return Identity{AccessorID: accessor, Authorizer: acl.DenyAll()}, true
	}
	return Identity{}, false
}

// downRules are the rules ACL.Resolve hands a client agent for an
// identity of the down policy: every resource at one level.
func downRules(z *acl.Authorizer) []string {
	level := acl.AccessDeny
	if z.DefaultAllow() {
		level = acl.AccessWrite
	}
	return []string{acl.Everything(level).String()}
}

// watchPrimary keeps primaryDown current on a secondary's servers that
// do not lead (the leader learns it from each ACL replication round): it
// asks the primary for its leader every replication interval.
func (s *Server) watchPrimary() {
	if s.isPrimary() || !s.cfg.ACL.Enabled {
		return
	}
	for {
		tick, timer := clock.After(s.clock, s.cfg.ACL.replicationInterval())
		select {
		case <-s.shutdownCh:
			timer.Stop()
			return
		case <-tick:
		}
		if s.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.RPCHoldTimeout)
		var resp pb.StatusLeaderResponse
		_, err := s.forwardDC(ctx, MethodStatusLeader, s.cfg.ACL.PrimaryDatacenter, true,
			&pb.StatusRequest{Dc: s.cfg.ACL.PrimaryDatacenter}, &resp)
		cancel()
		s.setPrimaryReachable(err == nil)
	}
}

// unreachable reports whether err says the primary could not be reached
// (rather than, say, refused the replication token).
func unreachable(err error) bool {
	return err != nil && (errors.Is(err, rpc.ErrTransport) || errors.Is(err, rpc.ErrNoPathToDC) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpc.ErrNoLeader))
}

package dc

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// Session limits, Consul's.
const (
	MaxLockDelay  = 60 * time.Second
	MaxSessionTTL = 24 * time.Hour
)

func (s *Server) validateSession(sess *pb.Session) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{rpc.ErrBadRequest}, args...)...)
	}
	if sess == nil || sess.Node == "" {
		return bad("Must provide Node")
	}
	switch sess.Behavior {
	case "", store.SessionRelease, store.SessionDelete:
	default:
		return bad("Invalid Behavior setting '%s'", sess.Behavior)
	}
	if ttl := time.Duration(sess.TtlNanos); ttl != 0 && (ttl < s.cfg.SessionTTLMin || ttl > MaxSessionTTL) {
		return bad("Invalid Session TTL '%s', must be between [%s=%s]", ttl, s.cfg.SessionTTLMin, MaxSessionTTL)
	}
	if d := time.Duration(sess.LockDelayNanos); d < 0 || d > MaxLockDelay {
		return bad("Invalid LockDelay '%s', must be between [0s=%s]", d, MaxLockDelay)
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) sessionCreate(ctx context.Context, req *pb.SessionCreateRequest, resp *pb.SessionCreateResponse) error {
	if err := s.validateSession(req.Session); err != nil {
		return err
	}
	if done, err := s.forwardWrite(ctx, MethodSessionCreate, req.Write, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Write.GetToken(), acl.ResourceSession, acl.AccessWrite, req.Session.Node); err != nil {
		return err
	}
	sess := req.Session
	if req.DefaultChecks {
		sess.NodeChecks = []string{store.SerfCheckID}
	}
	sess.Id = newUUID()
	res, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_SessionCreate{SessionCreate: &pb.SessionCreate{Session: sess}}})
	if err != nil {
		return err
	}
	s.sessionRenewed(sess.Id)
	resp.Id, resp.Index = sess.Id, res.Index
	return nil
}

func (s *Server) sessionDestroy(ctx context.Context, req *pb.SessionDestroyRequest, resp *pb.WriteResponse) error {
	if req.Id == "" {
		return fmt.Errorf("%w: Missing session", rpc.ErrBadRequest)
	}
	if done, err := s.forwardWrite(ctx, MethodSessionDestroy, req.Write, req, resp); done {
		return err
	}
	if err := s.sessionWriteAllowed(ctx, req.Write.GetToken(), req.Id); err != nil {
		return err
	}
	res, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: req.Id}}})
	if err != nil {
		return err
	}
	resp.Index = res.Index
	return nil
}

// sessionRenew restarts a TTL session's timer. The renewal goes through
// Raft so that a new leader expires the session when it should, not a
// full TTL after it took over.
func (s *Server) sessionRenew(ctx context.Context, req *pb.SessionRenewRequest, resp *pb.SessionsResponse) error {
	if req.Id == "" {
		return fmt.Errorf("%w: Missing session", rpc.ErrBadRequest)
	}
	if done, err := s.forwardWrite(ctx, MethodSessionRenew, req.Write, req, resp); done {
		return err
	}
	if err := s.sessionWriteAllowed(ctx, req.Write.GetToken(), req.Id); err != nil {
		return err
	}
	if _, sess, err := s.store.Session(nil, req.Id); err != nil {
		return err
	} else if sess == nil {
		return fmt.Errorf("%w: Session id '%s' not found", rpc.ErrNotFound, req.Id)
	}
	if _, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_SessionRenew{SessionRenew: &pb.SessionRenew{Id: req.Id}}}); err != nil {
		return err
	}
	s.sessionRenewed(req.Id)
	_, sess, err := s.store.Session(nil, req.Id)
	if err != nil {
		return err
	}
	if sess == nil {
		return fmt.Errorf("%w: Session id '%s' not found", rpc.ErrNotFound, req.Id)
	}
	resp.Sessions = []*pb.Session{sess}
	return nil
}

func (s *Server) sessionGet(ctx context.Context, req *pb.SessionGetRequest, resp *pb.SessionsResponse) error {
	if done, err := s.forwardQuery(ctx, MethodSessionGet, req.Query, req, resp); done {
		return err
	}
	id, filter, err := s.queryIdentity(ctx, req.Query.GetToken())
	if err != nil {
		return err
	}
	resp.Meta = &pb.QueryMeta{}
	readable := func(sess *pb.Session) bool {
		return !filter || id.Authorizer.Allowed(acl.ResourceSession, sess.Node, acl.AccessRead)
	}
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		if req.Id != "" {
			idx, sess, err := s.store.Session(ws, req.Id)
			resp.Sessions = resp.Sessions[:0]
			if sess != nil {
				resp.Sessions = append(resp.Sessions, sess)
			}
			resp.Sessions, resp.Meta.ResultsFilteredByAcls = keep(resp.Sessions, readable)
			return idx, err
		}
		idx, list, err := s.store.Sessions(ws, req.Node)
		resp.Sessions, resp.Meta.ResultsFilteredByAcls = keep(list, readable)
		return idx, err
	})
}

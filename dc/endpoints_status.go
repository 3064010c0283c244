package dc

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

func (s *Server) statusLeader(ctx context.Context, req *pb.StatusRequest, resp *pb.StatusLeaderResponse) error {
	if done, err := s.forwardDC(ctx, MethodStatusLeader, req.Dc, true, req, resp); done {
		return err
	}
	resp.Address = s.LeaderAddr()
	return nil
}

func (s *Server) statusPeers(ctx context.Context, req *pb.StatusRequest, resp *pb.StatusPeersResponse) error {
	if done, err := s.forwardDC(ctx, MethodStatusPeers, req.Dc, true, req, resp); done {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	resp.Addresses = resp.Addresses[:0]
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			resp.Addresses = append(resp.Addresses, string(srv.Address))
		}
	}
	return nil
}

func (s *Server) statusRaftIndex(ctx context.Context, req *pb.StatusRequest, resp *pb.StatusRaftIndexResponse) error {
	resp.LastIndex = s.raft.LastIndex()
	resp.HasStats = true
	resp.LastTerm, _ = strconv.ParseUint(s.raft.Stats()["last_log_term"], 10, 64)
	// Raft keeps its contact times on the time package's clock.
	switch lc := s.raft.LastContact(); {
	case s.IsLeader():
	case lc.IsZero():
		resp.LastContactNanos = -1
	default:
		resp.LastContactNanos = int64(time.Since(lc))
	}
	return nil
}

func (s *Server) raftConfiguration(ctx context.Context, req *pb.RaftConfigurationRequest, resp *pb.RaftConfigurationResponse) error {
	if done, err := s.forwardRead(ctx, MethodRaftConfiguration, req.Query, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Query.GetToken(), acl.ResourceOperator, acl.AccessRead, ""); err != nil {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	names := map[string]string{}
	for _, m := range s.deps.Membership.Members() {
		names[m.ID] = m.Name
	}
	_, leaderID := s.raft.LeaderWithID()
	resp.Servers = resp.Servers[:0]
	for _, srv := range f.Configuration().Servers {
		resp.Servers = append(resp.Servers, &pb.RaftServer{
			Id:              string(srv.ID),
			Node:            names[string(srv.ID)],
			Address:         string(srv.Address),
			Leader:          srv.ID == leaderID,
			Voter:           srv.Suffrage == raft.Voter,
			ProtocolVersion: "3",
		})
	}
	resp.Index = f.Index()
	resp.Meta = &pb.QueryMeta{Index: max(f.Index(), 1), Consistency: req.GetQuery().GetConsistency()}
	s.setQueryMeta(resp.Meta)
	return nil
}

func (s *Server) raftRemovePeer(ctx context.Context, req *pb.RaftRemovePeerRequest, resp *pb.RaftRemovePeerResponse) error {
	if (req.Id == "") == (req.Address == "") {
		return fmt.Errorf("%w: give exactly one of id and address", rpc.ErrBadRequest)
	}
	if done, err := s.forwardWrite(ctx, MethodRaftRemovePeer, req.Write, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Write.GetToken(), acl.ResourceOperator, acl.AccessWrite, ""); err != nil {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, srv := range f.Configuration().Servers {
		if (req.Id != "" && string(srv.ID) == req.Id) || (req.Address != "" && string(srv.Address) == req.Address) {
			return s.await(s.raft.RemoveServer(srv.ID, 0, 0))
		}
	}
	what := req.Id
	if what == "" {
		what = req.Address
	}
	return fmt.Errorf("%w: no raft peer %q", rpc.ErrNotFound, what)
}

// TakeSnapshot makes Raft snapshot the state now and compact its log,
// instead of waiting for SnapshotInterval and SnapshotThreshold.
func (s *Server) TakeSnapshot() error {
	if err := s.await(s.raft.Snapshot()); err != nil {
		return fmt.Errorf("dc: snapshot: %w", err)
	}
	return nil
}

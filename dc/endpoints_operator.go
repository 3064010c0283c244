package dc

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// ErrNoAutopilotState is returned when the leader cannot read its Raft
// configuration to judge the servers' health.
var ErrNoAutopilotState = errors.New("autopilot state unavailable")

// autopilotGetConfig answers the configuration in force: the stored one,
// else the answering server's own (with zero indexes).
func (s *Server) autopilotGetConfig(ctx context.Context, req *pb.AutopilotConfigRequest, resp *pb.AutopilotConfigResponse) error {
	if done, err := s.forwardRead(ctx, MethodAutopilotGetConfig, req.Query, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Query.GetToken(), acl.ResourceOperator, acl.AccessRead, ""); err != nil {
		return err
	}
	resp.Config = s.autopilotConfig()
	resp.Meta = &pb.QueryMeta{Index: resp.Config.ModifyIndex}
	s.setQueryMeta(resp.Meta)
	return nil
}

// autopilotSetConfig stores a configuration through Raft (with cas only
// over the given modify index).
func (s *Server) autopilotSetConfig(ctx context.Context, req *pb.AutopilotSetConfigRequest, resp *pb.AutopilotSetConfigResponse) error {
	c := req.GetConfig()
	switch {
	case c == nil:
		return fmt.Errorf("%w: autopilot configuration missing", rpc.ErrBadRequest)
	case c.LastContactThresholdNanos < 0:
		return fmt.Errorf("%w: LastContactThreshold must not be negative", rpc.ErrBadRequest)
	case c.ServerStabilizationTimeNanos < 0:
		return fmt.Errorf("%w: ServerStabilizationTime must not be negative", rpc.ErrBadRequest)
	}
	if done, err := s.forwardWrite(ctx, MethodAutopilotSetConfig, req.Write, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Write.GetToken(), acl.ResourceOperator, acl.AccessWrite, ""); err != nil {
		return err
	}
	res, err := s.raftApply(ctx, autopilotConfigCommand(c, req.Cas))
	if err != nil {
		return err
	}
	if res.Err != nil {
		return fmt.Errorf("%w: %v", rpc.ErrBadRequest, res.Err)
	}
	resp.Ok = res.OK
	return nil
}

// autopilotConfigCommand is the log entry that stores c. It is ignorable:
// a server of an earlier version has no autopilot to configure.
func autopilotConfigCommand(c *pb.AutopilotConfig, cas bool) *pb.Command {
	return &pb.Command{IgnoreIfUnknown: true, Cmd: &pb.Command_AutopilotConfig{
		AutopilotConfig: &pb.AutopilotConfigSet{Config: proto.Clone(c).(*pb.AutopilotConfig), Cas: cas}}}
}

// autopilotStateRPC answers the leader's view of the servers' health; only
// the leader has one, so the request always goes there.
func (s *Server) autopilotStateRPC(ctx context.Context, req *pb.AutopilotStateRequest, resp *pb.AutopilotStateResponse) error {
	if done, err := s.forwardDC(ctx, MethodAutopilotState, req.GetQuery().GetDc(), true, req, resp); done {
		return err
	}
	if done, err := s.forwardToLeader(ctx, MethodAutopilotState, req, resp, true); done {
		return err
	}
	if err := s.need(ctx, req.GetQuery().GetToken(), acl.ResourceOperator, acl.AccessRead, ""); err != nil {
		return err
	}
	st := s.autopilotStateNow(ctx)
	if st == nil {
		return ErrNoAutopilotState
	}
	proto.Merge(resp, st)
	resp.Meta = &pb.QueryMeta{}
	s.setQueryMeta(resp.Meta)
	return nil
}

// raftTransferLeader hands leadership to the voter req.Id, or to the most
// up-to-date other voter when it is empty, and waits for the handover.
func (s *Server) raftTransferLeader(ctx context.Context, req *pb.RaftTransferLeaderRequest, resp *pb.RaftTransferLeaderResponse) error {
	if done, err := s.forwardWrite(ctx, MethodRaftTransferLeader, req.Write, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Write.GetToken(), acl.ResourceOperator, acl.AccessWrite, ""); err != nil {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	var target *raft.Server
	others := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.cfg.NodeID {
			others++
		}
		if req.Id != "" && string(srv.ID) == req.Id {
			target = &srv
		}
	}
	var fut raft.Future
	switch {
	case req.Id == s.cfg.NodeID:
		return fmt.Errorf("%w: cannot transfer leadership to itself", rpc.ErrBadRequest)
	case req.Id != "" && target == nil:
		return fmt.Errorf("%w: no raft server with id %q", rpc.ErrNotFound, req.Id)
	case target != nil && target.Suffrage != raft.Voter:
		return fmt.Errorf("%w: server %q is not a voter", rpc.ErrBadRequest, req.Id)
	case others == 0:
		return fmt.Errorf("%w: no other voter to transfer leadership to", rpc.ErrBadRequest)
	case target != nil:
		fut = s.raft.LeadershipTransferToServer(target.ID, target.Address)
	default:
		fut = s.raft.LeadershipTransfer()
	}
	s.log.Info("transferring leadership", "to", req.Id)
	if err := s.await(fut); err != nil {
		return fmt.Errorf("leadership transfer: %w", err)
	}
	resp.Success = true
	return nil
}

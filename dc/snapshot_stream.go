package dc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/snapshot"
	"github.com/meridian-io/meridian/store"
	"github.com/meridian-io/meridian/wan"
)

// Snapshot stream methods (rpc stream calls, request pb.SnapshotRequest):
// an archive is larger than any message, so it travels on a stream of
// its own. Save answers pb.SnapshotResponse followed by the archive;
// restore reads the archive the caller uploads, then answers. Client
// agents, followers (restores go to the leader) and servers of other
// datacenters hand the call on as it is.
const (
	MethodSnapshotSave    = "Snapshot.Save"
	MethodSnapshotRestore = "Snapshot.Restore"
)

// StreamOpener opens stream calls on other servers; *rpc.Pool is one.
type StreamOpener interface {
	OpenStream(ctx context.Context, addr, method string, req proto.Message) (*rpc.ClientStream, error)
}

// RegisterStreams exposes the snapshot stream methods on an RPC server.
func (s *Server) RegisterStreams(srv *rpc.Server) {
	srv.RegisterStream(MethodSnapshotSave, func(ctx context.Context, call *rpc.StreamCall) error {
		return s.snapshotCall(ctx, MethodSnapshotSave, call)
	})
	srv.RegisterStream(MethodSnapshotRestore, func(ctx context.Context, call *rpc.StreamCall) error {
		return s.snapshotCall(ctx, MethodSnapshotRestore, call)
	})
}

// snapshotCall serves a snapshot stream here or hands it on.
func (s *Server) snapshotCall(ctx context.Context, method string, call *rpc.StreamCall) error {
	var req pb.SnapshotRequest
	if err := proto.Unmarshal(call.Payload, &req); err != nil {
		return fmt.Errorf("%w: decode %s request: %v", rpc.ErrBadRequest, method, err)
	}
	up, err := s.SnapshotUpstream(ctx, method, &req)
	if err != nil {
		return err
	}
	if up != nil {
		defer up.Close()
		return call.Relay(up)
	}
	// Served here: the token is checked in the datacenter it is for.
	if err := s.need(ctx, req.Token, acl.ResourceACL, acl.AccessWrite, ""); err != nil {
		return err
	}
	if method == MethodSnapshotSave {
		ss, err := s.SaveSnapshot(ctx, req.Stale)
		if err != nil {
			return err
		}
		defer ss.Close()
		if err := call.Respond(&pb.SnapshotResponse{Index: max(ss.Meta.Index, 1), KnownLeader: s.LeaderAddr() != ""}); err != nil {
			return err
		}
		return ss.WriteArchive(call)
	}
	if _, err := s.RestoreSnapshot(ctx, call); err != nil {
		return SnapshotRestoreError(err)
	}
	return call.Respond(&pb.SnapshotResponse{KnownLeader: true})
}

// SnapshotRestoreError is err of a restore as callers elsewhere should
// see it: a damaged archive is a bad request that changed nothing.
func SnapshotRestoreError(err error) error {
	if errors.Is(err, snapshot.ErrInvalid) || errors.Is(err, store.ErrBadSnapshot) {
		return fmt.Errorf("%w: snapshot refused, nothing restored: %v", rpc.ErrBadRequest, err)
	}
	return err
}

// SnapshotUpstream opens the stream that serves req on another server,
// or returns nil when this server serves it: a server of req's
// datacenter (nearest first) when that is another one, the leader for a
// restore on a follower. A save is served by any server (linearized
// unless stale).
func (s *Server) SnapshotUpstream(ctx context.Context, method string, req *pb.SnapshotRequest) (*rpc.ClientStream, error) {
	opener, ok := s.deps.Pool.(StreamOpener)
	if dc := req.GetDatacenter(); dc != "" && dc != s.cfg.Datacenter {
		if s.deps.Router == nil || !ok {
			return nil, fmt.Errorf("%w %q", rpc.ErrNoPathToDC, dc)
		}
		servers, err := s.deps.Router.ServersFor(dc)
		switch {
		case errors.Is(err, wan.ErrNoPathToDC):
			return nil, fmt.Errorf("%w %q", rpc.ErrNoPathToDC, dc)
		case err != nil:
			return nil, fmt.Errorf("%w %q: %v", rpc.ErrNoPathToDC, dc, err)
		}
		var last error
		for _, srv := range servers {
			up, err := opener.OpenStream(rpc.WithDatacenter(ctx, srv.Datacenter), srv.Addr, method, req)
			if err == nil {
				return up, nil
			}
			last = err
			if !errors.Is(err, rpc.ErrTransport) {
				break
			}
			_ = s.deps.Router.MarkFailed(srv.Name)
		}
		return nil, fmt.Errorf("%w %q: %v", rpc.ErrNoPathToDC, dc, last)
	}
	if method != MethodSnapshotRestore || s.IsLeader() {
		return nil, nil
	}
	addr := s.LeaderAddr()
	switch {
	case req.GetForwarded():
		return nil, ErrSnapshotNotLeader
	case addr == "":
		return nil, rpc.ErrNoLeader
	case !ok:
		return nil, ErrSnapshotNotLeader
	}
	fwd := proto.CloneOf(req)
	fwd.Forwarded = true
	return opener.OpenStream(ctx, addr, method, fwd)
}

// SnapshotDownload reads a save's answer from up: its response, then the
// archive, which copy writes out.
func SnapshotDownload(up *rpc.ClientStream, copy func(resp *pb.SnapshotResponse, archive io.Reader) error) error {
	if err := up.CloseWrite(); err != nil {
		return err
	}
	var resp pb.SnapshotResponse
	if err := up.Response(&resp); err != nil {
		return err
	}
	return copy(&resp, up)
}

// SnapshotUpload sends archive up for a restore and reads the answer.
func SnapshotUpload(up *rpc.ClientStream, archive io.Reader) error {
	if _, err := io.Copy(up, archive); err != nil {
		return err
	}
	if err := up.CloseWrite(); err != nil {
		return err
	}
	return up.Response(nil)
}

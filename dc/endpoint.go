package dc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/rpc"
)

// RPC method names, the same in-process (Server.RPC) and on the wire.
const (
	MethodKVGet              = "KV.Get"
	MethodKVApply            = "KV.Apply"
	MethodTxn                = "Txn.Apply"
	MethodStatusLeader       = "Status.Leader"
	MethodStatusPeers        = "Status.Peers"
	MethodStatusRaftIndex    = "Status.RaftIndex"
	MethodReadIndex          = "Status.ReadIndex"
	MethodRaftConfiguration  = "Operator.RaftConfiguration"
	MethodRaftRemovePeer     = "Operator.RaftRemovePeer"
	MethodRaftTransferLeader = "Operator.RaftTransferLeader"
	// Autopilot: its configuration, and the leader's view of the servers'
	// health.
	MethodAutopilotGetConfig = "Operator.AutopilotGetConfiguration"
	MethodAutopilotSetConfig = "Operator.AutopilotSetConfiguration"
	MethodAutopilotState     = "Operator.AutopilotState"

	MethodCatalogRegister     = "Catalog.Register"
	MethodCatalogDeregister   = "Catalog.Deregister"
	MethodCatalogNodes        = "Catalog.ListNodes"
	MethodCatalogServices     = "Catalog.ListServices"
	MethodCatalogServiceNodes = "Catalog.ServiceNodes"
	MethodCatalogNodeServices = "Catalog.NodeServices"
	MethodCatalogDatacenters  = "Catalog.ListDatacenters"
	MethodHealthChecks        = "Health.Checks"
	// MethodCatalogDump lists every node, service and check (web console).
	MethodCatalogDump = "Catalog.Dump"

	MethodSessionCreate  = "Session.Create"
	MethodSessionDestroy = "Session.Destroy"
	MethodSessionRenew   = "Session.Renew"
	MethodSessionGet     = "Session.Get"

	MethodCoordinateUpdate      = "Coordinate.Update"
	MethodCoordinateNodes       = "Coordinate.ListNodes"
	MethodCoordinateDatacenters = "Coordinate.ListDatacenters"
	MethodEventFire             = "Internal.EventFire"

	// MethodKVChanges is the source side of KV replication;
	// MethodKVReplicationStatus reports it (answered by the leader).
	MethodKVChanges           = "KV.Changes"
	MethodKVReplicationStatus = "KVReplication.Status"

	// MethodACLReplicationStatus reports the copy of the primary's ACLs
	// (answered by the leader).
	MethodACLReplicationStatus = "ACL.ReplicationStatus"
)

// endpoint is one RPC method: how to make its messages and how to call it.
type endpoint struct {
	newReq  func() proto.Message
	newResp func() proto.Message
	call    func(ctx context.Context, req, resp proto.Message) error
}

func register[Req any, PReq interface {
	*Req
	proto.Message
}, Resp any, PResp interface {
	*Resp
	proto.Message
}](s *Server, method string, fn func(context.Context, PReq, PResp) error) {
	if _, ok := rpcMethodAuth[method]; !ok {
		// A method must say where its permission is checked.
		panic("dc: RPC method " + method + " has no ACL classification in rpcMethodAuth")
	}
	s.endpoints[method] = endpoint{
		newReq:  func() proto.Message { return PReq(new(Req)) },
		newResp: func() proto.Message { return PResp(new(Resp)) },
		call: func(ctx context.Context, req, resp proto.Message) error {
			start := time.Now()
			err := fn(ctx, req.(PReq), resp.(PResp))
			s.rpcMetrics(method, start, err)
			return err
		},
	}
}

func (s *Server) registerEndpoints() {
	s.endpoints = map[string]endpoint{}
	register(s, MethodKVGet, s.kvGet)
	register(s, MethodKVApply, s.kvApply)
	register(s, MethodTxn, s.txnApply)
	register(s, MethodStatusLeader, s.statusLeader)
	register(s, MethodStatusPeers, s.statusPeers)
	register(s, MethodStatusRaftIndex, s.statusRaftIndex)
	register(s, MethodReadIndex, s.readIndex)
	register(s, MethodRaftConfiguration, s.raftConfiguration)
	register(s, MethodRaftRemovePeer, s.raftRemovePeer)
	register(s, MethodRaftTransferLeader, s.raftTransferLeader)
	register(s, MethodAutopilotGetConfig, s.autopilotGetConfig)
	register(s, MethodAutopilotSetConfig, s.autopilotSetConfig)
	register(s, MethodAutopilotState, s.autopilotStateRPC)
	register(s, MethodCatalogRegister, s.catalogRegister)
	register(s, MethodCatalogDeregister, s.catalogDeregister)
	register(s, MethodCatalogNodes, s.catalogNodes)
	register(s, MethodCatalogServices, s.catalogServices)
	register(s, MethodCatalogServiceNodes, s.catalogServiceNodes)
	register(s, MethodCatalogNodeServices, s.catalogNodeServices)
	register(s, MethodCatalogDatacenters, s.catalogDatacenters)
	register(s, MethodHealthChecks, s.healthChecks)
	register(s, MethodCatalogDump, s.catalogDump)
	register(s, MethodSessionCreate, s.sessionCreate)
	register(s, MethodSessionDestroy, s.sessionDestroy)
	register(s, MethodSessionRenew, s.sessionRenew)
	register(s, MethodSessionGet, s.sessionGet)
	register(s, MethodCoordinateUpdate, s.coordinateUpdate)
	register(s, MethodCoordinateNodes, s.coordinateNodes)
	register(s, MethodCoordinateDatacenters, s.coordinateDatacenters)
	register(s, MethodEventFire, s.eventFire)
	register(s, MethodPreparedQueryApply, s.preparedQueryApply)
	register(s, MethodPreparedQueryGet, s.preparedQueryGet)
	register(s, MethodPreparedQueryExecute, s.preparedQueryExecute)
	register(s, MethodPreparedQueryExecuteRemote, s.preparedQueryExecuteRemote)
	s.registerACLEndpoints()
	register(s, MethodKVChanges, s.kvChanges)
	register(s, MethodKVReplicationStatus, s.kvReplicationStatus)
	register(s, MethodACLReplicationStatus, s.aclReplicationStatus)
	register(s, MethodKeyringOperation, s.keyringOperation)
}

// RPC calls a method of this server in-process (a server agent's own HTTP
// API goes through here). req and resp must be the method's types.
func (s *Server) RPC(ctx context.Context, method string, req, resp proto.Message) error {
	ep, ok := s.endpoints[method]
	if !ok {
		return fmt.Errorf("%w: %s", rpc.ErrUnknownMethod, method)
	}
	key := s.sharedKey(ctx, method, req)
	if key == "" {
		return ep.call(ctx, req, resp)
	}
	shared, sole, _, _, err := s.shared.do(ctx, key, true, ep.newResp, func(ctx context.Context, resp proto.Message) error {
		return ep.call(ctx, req, resp)
	}, freshRead(ep, req))
	if err != nil {
		return err
	}
	// Nobody else has the answer when sole: the caller takes its fields
	// as they are (a large read the server cached stays the cached slice,
	// which the agent's encoded answers recognise); otherwise a copy.
	takeAnswer(resp, shared, sole)
	return nil
}

// RPCShared is RPC for a caller that only reads the answer: it hands back
// the answer itself, which identical blocking queries share (the caller
// must not modify it), and the shared query's Memo, in which its members
// keep one encoding of it (nil for an answer nobody shares).
func (s *Server) RPCShared(ctx context.Context, method string, req proto.Message) (proto.Message, *Memo, error) {
	ep, ok := s.endpoints[method]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", rpc.ErrUnknownMethod, method)
	}
	key := s.sharedKey(ctx, method, req)
	if key == "" {
		resp := ep.newResp()
		return resp, nil, ep.call(ctx, req, resp)
	}
	shared, _, memo, _, err := s.shared.do(ctx, key, true, ep.newResp, func(ctx context.Context, resp proto.Message) error {
		return ep.call(ctx, req, resp)
	}, freshRead(ep, req))
	return shared, memo, err
}

// freshRead is req's read, answering at once (see sharedQueries.do): still
// a blocking read, so that a follower sends it to the leader rather than
// wait for its own store to catch up, but past index 1 and with no wait.
func freshRead(ep endpoint, req proto.Message) func(ctx context.Context, resp proto.Message) error {
	return func(ctx context.Context, resp proto.Message) error {
		now := proto.Clone(req)
		q := blockingMinIndex(now)
		q.MinIndex, q.MaxWaitNanos = 1, 1
		return ep.call(ctx, now, resp)
	}
}

// RegisterRPC exposes every endpoint on an RPC server, for other agents.
func (s *Server) RegisterRPC(srv *rpc.Server) {
	for method, ep := range s.endpoints {
		ep := ep
		srv.Register(method, func(ctx context.Context, payload []byte) (proto.Message, error) {
			arrived := time.Now()
			req := ep.newReq()
			if err := proto.Unmarshal(payload, req); err != nil {
				return nil, fmt.Errorf("%w: decode %s request: %v", rpc.ErrBadRequest, method, err)
			}
			if key := s.sharedKey(ctx, method, req); key != "" {
				// The shared response is only encoded from here on. A
				// request from another agent never joins a query this
				// server forwarded (see sharedQueries.do).
				resp, _, _, readAt, err := s.shared.do(ctx, key, false, ep.newResp, func(ctx context.Context, resp proto.Message) error {
					return ep.call(ctx, req, resp)
				}, freshRead(ep, req))
				// The caller may share this answer among requests of its
				// own that arrived after it sent this one: tell it when
				// the answer was read.
				rpc.NoteReadAfter(ctx, readAt.Sub(arrived))
				return resp, err
			}
			resp := ep.newResp()
			if err := ep.call(ctx, req, resp); err != nil {
				return nil, err
			}
			return resp, nil
		})
	}
}

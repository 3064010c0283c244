package dc

import (
	"context"
	"fmt"
	"slices"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

func (s *Server) kvGet(ctx context.Context, req *pb.KVGetRequest, resp *pb.KVGetResponse) error {
	if done, err := s.forwardQuery(ctx, MethodKVGet, req.Query, req, resp); done {
		return err
	}
	if resp.Meta == nil {
		resp.Meta = &pb.QueryMeta{}
	}
	id, err := s.ResolveToken(ctx, req.Query.GetToken())
	if err != nil {
		return err
	}
	if !req.Recurse && !req.KeysOnly && !id.Authorizer.Allowed(acl.ResourceKey, req.Key, acl.AccessRead) {
		return PermissionDenied(id.AccessorID, acl.ResourceKey, acl.AccessRead, req.Key)
	}
	defer func() {
		// Recursive and keys-only reads leave out what the token may
		// not read.
		if req.Recurse || req.KeysOnly {
			readable := func(k string) bool { return id.Authorizer.Allowed(acl.ResourceKey, k, acl.AccessRead) }
			n := len(resp.Keys) + len(resp.Entries)
			resp.Keys = slices.DeleteFunc(resp.Keys, func(k string) bool { return !readable(k) })
			resp.Entries = slices.DeleteFunc(resp.Entries, func(e *pb.KVEntry) bool { return !readable(e.Key) })
			resp.Meta.ResultsFilteredByAcls = n != len(resp.Keys)+len(resp.Entries)
		}
	}()
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		switch {
		case req.KeysOnly:
			idx, keys, err := s.store.KVKeys(ws, req.Key, req.Separator)
			resp.Keys = keys
			return idx, err
		case req.Recurse:
			idx, entries, err := s.store.KVList(ws, req.Key)
			resp.Entries = entries
			return idx, err
		default:
			idx, e, err := s.store.KVGet(ws, req.Key)
			resp.Entries = resp.Entries[:0]
			if e != nil {
				resp.Entries = append(resp.Entries, e)
			}
			return idx, err
		}
	})
}

func (s *Server) kvApply(ctx context.Context, req *pb.KVApplyRequest, resp *pb.KVApplyResponse) error {
	if err := validateKVWrite(req.Op); err != nil {
		return err
	}
	if err := s.refuseReplicatedWrite(req.Write.GetDc(), req.Op); err != nil {
		return err
	}
	if done, err := s.forwardWrite(ctx, MethodKVApply, req.Write, req, resp); done {
		return err
	}
	if id, err := s.ResolveToken(ctx, req.Write.GetToken()); err != nil {
		return err
	} else if !KVOpAllowed(id.Authorizer, req.Op) {
		return PermissionDenied(id.AccessorID, acl.ResourceKey, acl.AccessWrite, req.Op.GetEntry().GetKey())
	}
	res, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_Kv{Kv: req.Op}})
	if err != nil {
		return err
	}
	resp.Ok, resp.Index = res.OK, res.Index
	return nil
}

// validateKVWrite refuses a KV write before it reaches the log.
func validateKVWrite(op *pb.KVOp) error {
	if op == nil || op.Entry == nil {
		return fmt.Errorf("%w: missing kv operation", rpc.ErrBadRequest)
	}
	switch op.Verb {
	case pb.KVVerb_KV_SET, pb.KVVerb_KV_CAS, pb.KVVerb_KV_DELETE, pb.KVVerb_KV_DELETE_CAS:
		if op.Entry.Key == "" {
			return fmt.Errorf("%w: Missing key name", rpc.ErrBadRequest)
		}
	case pb.KVVerb_KV_DELETE_TREE:
	case pb.KVVerb_KV_LOCK, pb.KVVerb_KV_UNLOCK:
		if op.Entry.Key == "" {
			return fmt.Errorf("%w: Missing key name", rpc.ErrBadRequest)
		}
		if op.Entry.Session == "" {
			return fmt.Errorf("%w: missing session", rpc.ErrBadRequest)
		}
	default:
		return fmt.Errorf("%w: %s is not a kv write", rpc.ErrBadRequest, op.Verb)
	}
	return nil
}

func (s *Server) txnApply(ctx context.Context, req *pb.TxnRequest, resp *pb.TxnResponse) error {
	if err := validateTxn(req.Ops); err != nil {
		return err
	}
	if store.TxnIsReadOnly(req.Ops) {
		if req.Query == nil {
			req.Query = &pb.QueryOptions{Dc: req.GetWrite().GetDc()}
		}
		if done, err := s.forwardQuery(ctx, MethodTxn, req.Query, req, resp); done {
			return err
		}
		if denied, err := s.txnDenied(ctx, req); err != nil || len(denied) > 0 {
			resp.Errors = denied
			return err
		}
		if req.Query.Consistency != pb.Consistency_CONSISTENCY_STALE {
			if err := s.linearize(ctx); err != nil {
				return err
			}
		}
		resp.Meta = &pb.QueryMeta{Consistency: req.Query.Consistency}
		idx, results, errs := s.store.TxnRead(req.Ops)
		resp.Meta.Index = max(idx, 1)
		s.setQueryMeta(resp.Meta)
		resp.Results, resp.Errors, resp.Index = results, errs, idx
		return nil
	}
	for _, op := range req.Ops {
		if err := s.refuseReplicatedWrite(req.Write.GetDc(), op.GetKv()); err != nil {
			return err
		}
	}
	if done, err := s.forwardWrite(ctx, MethodTxn, req.Write, req, resp); done {
		return err
	}
	if denied, err := s.txnDenied(ctx, req); err != nil || len(denied) > 0 {
		resp.Errors = denied
		return err
	}
	res, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: req.Ops}}})
	if err != nil {
		return err
	}
	resp.Results, resp.Errors, resp.Index = res.Results, res.Errors, res.Index
	return nil
}

// txnDenied checks every operation of a transaction against its token:
// each denied one is a TxnError, and the transaction does not run (as in
// Consul, which answers 409 with them).
func (s *Server) txnDenied(ctx context.Context, req *pb.TxnRequest) ([]*pb.TxnError, error) {
	token := req.GetWrite().GetToken()
	if token == "" {
		token = req.GetQuery().GetToken()
	}
	id, err := s.ResolveToken(ctx, token)
	if err != nil {
		return nil, err
	}
	var denied []*pb.TxnError
	for i, op := range req.Ops {
		if !KVOpAllowed(id.Authorizer, op.GetKv()) {
			denied = append(denied, &pb.TxnError{OpIndex: uint32(i), What: rpc.ErrPermissionDenied.Error()})
		}
	}
	return denied, nil
}

// validateTxn refuses a transaction that could never apply: too many ops,
// an op that is not a known KV verb, a key missing where one is needed.
func validateTxn(ops []*pb.TxnOp) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: transaction has no operations", rpc.ErrBadRequest)
	}
	if len(ops) > store.MaxTxnOps {
		return fmt.Errorf("%w: Transaction contains too many operations (%d > %d)", rpc.ErrBadRequest, len(ops), store.MaxTxnOps)
	}
	for i, op := range ops {
		kv := op.GetKv()
		if kv == nil || kv.Entry == nil {
			return fmt.Errorf("%w: operation %d is not a kv operation", rpc.ErrBadRequest, i)
		}
		switch kv.Verb {
		case pb.KVVerb_KV_GET_TREE, pb.KVVerb_KV_DELETE_TREE:
		case pb.KVVerb_KV_LOCK, pb.KVVerb_KV_UNLOCK, pb.KVVerb_KV_CHECK_SESSION:
			if kv.Entry.Key == "" || kv.Entry.Session == "" {
				return fmt.Errorf("%w: operation %d: %s needs a key and a session", rpc.ErrBadRequest, i, kv.Verb)
			}
		case pb.KVVerb_KV_VERB_UNSPECIFIED:
			return fmt.Errorf("%w: operation %d has no verb", rpc.ErrBadRequest, i)
		default:
			if _, known := pb.KVVerb_name[int32(kv.Verb)]; !known {
				return fmt.Errorf("%w: operation %d has unknown verb %d", rpc.ErrBadRequest, i, kv.Verb)
			}
			if kv.Entry.Key == "" {
				return fmt.Errorf("%w: operation %d: missing key name", rpc.ErrBadRequest, i)
			}
		}
	}
	return nil
}

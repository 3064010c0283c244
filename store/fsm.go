package store

import (
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// Entry is one committed log entry handed to the FSM.
type Entry struct {
	Index uint64
	Data  []byte
}

// Result is what applying one command produced.
type Result struct {
	// Index is the log index the command was applied at.
	Index uint64
	// OK is the answer of a KV write: false when a CAS did not match.
	OK bool
	// Results and Errors are a transaction's; Errors set means it was
	// rolled back and changed nothing.
	Results []*pb.TxnResult
	Errors  []*pb.TxnError
	// Err is set when the command was refused (it changed nothing).
	Err error
	// Batch holds the results of a CommandBatch's commands, in order.
	Batch []*Result
}

// Apply decodes and applies one command at index.
func (s *Store) Apply(index uint64, data []byte) *Result {
	return s.ApplyBatch([]Entry{{Index: index, Data: data}})[0]
}

// ApplyBatch applies committed commands in one memdb transaction, so a
// batch costs one commit and one round of watch notifications. Each command
// keeps its own index and its own outcome: a transaction that fails is
// rolled back alone (the batch is replayed without it), the others commit.
// A CommandBatch entry is expanded into its commands, all at its index, and
// answered with one Result whose Batch holds theirs.
func (s *Store) ApplyBatch(entries []Entry) []*Result {
	results := make([]*Result, len(entries))
	// Flatten: every command to apply, with the entry it answers. The
	// first entry that cannot be interpreted stops the store: it and every
	// entry after it are refused, those before it are applied.
	type item struct {
		entry int
		index uint64
		cmd   *pb.Command
	}
	var items []item
	for i, e := range entries {
		if err := s.Stopped(); err != nil {
			results[i] = &Result{Index: e.Index, Err: err}
			continue
		}
		cmd, skip, err := decodeEntry(e)
		if err != nil {
			s.stop(err)
			results[i] = &Result{Index: e.Index, Err: err}
			continue
		}
		if skip {
			results[i] = &Result{Index: e.Index, OK: true}
			continue
		}
		b, ok := cmd.Cmd.(*pb.Command_Batch)
		if !ok {
			items = append(items, item{entry: i, index: e.Index, cmd: cmd})
			continue
		}
		results[i] = &Result{Index: e.Index, OK: true}
		for _, sub := range b.Batch.GetCommands() {
			if sub.NowUnixNano == 0 {
				sub.NowUnixNano = cmd.NowUnixNano
			}
			items = append(items, item{entry: i, index: e.Index, cmd: sub})
		}
	}
	out := make([]*Result, len(items))
	skip := make([]bool, len(items))
	for {
		tx := s.writeTxn()
		replay := false
		for i, it := range items {
			if skip[i] {
				continue
			}
			r, dirty := applyCommand(tx, it.index, it.cmd)
			out[i] = r
			if dirty {
				// The command failed after writing: undo the whole batch
				// and apply it again without this one.
				skip[i] = true
				replay = true
				break
			}
		}
		if !replay {
			// The values this batch wrote go out before it is visible.
			err := kvRelocate(tx)
			if err == nil {
				err = s.vlog.flush()
			}
			if err != nil {
				tx.Abort()
				s.stop(fmt.Errorf("store: %w", err))
				for i := range out {
					out[i] = &Result{Index: items[i].index, Err: err}
				}
				break
			}
			tx.Commit()
			break
		}
		tx.Abort()
	}
	for i, it := range items {
		if results[it.entry] == nil {
			results[it.entry] = out[i]
			continue
		}
		results[it.entry].Batch = append(results[it.entry].Batch, out[i])
	}
	return results
}

// applyCommand applies cmd on tx. dirty reports a failure that may have left
// partial writes on tx, which the caller must discard.
func applyCommand(tx *memdb.Txn, idx uint64, cmd *pb.Command) (r *Result, dirty bool) {
	r = &Result{Index: idx}
	switch c := cmd.Cmd.(type) {
	case *pb.Command_Kv:
		r.OK, r.Err = applyKV(tx, idx, cmd.NowUnixNano, c.Kv)
		return r, r.Err != nil && !errors.Is(r.Err, ErrBadCommand)
	case *pb.Command_Txn:
		if len(c.Txn.Ops) > MaxTxnOps {
			r.Err = fmt.Errorf("%w: transaction has %d operations, at most %d", ErrBadCommand, len(c.Txn.Ops), MaxTxnOps)
			return r, false
		}
		r.Results, r.Errors = txnOps(tx, idx, cmd.NowUnixNano, c.Txn.Ops)
		if len(r.Errors) > 0 {
			r.Results = nil
			return r, txnFailureDirty(c.Txn.Ops, r.Errors[0].OpIndex)
		}
		return r, false
	case *pb.Command_Register:
		r.OK = true
		r.Err = ensureRegistration(tx, idx, cmd.NowUnixNano, c.Register)
		return r, r.Err != nil
	case *pb.Command_Deregister:
		r.OK = true
		r.Err = deregister(tx, idx, cmd.NowUnixNano, c.Deregister)
		return r, r.Err != nil
	case *pb.Command_SessionCreate:
		r.OK = true
		r.Err = sessionCreate(tx, idx, cmd.NowUnixNano, c.SessionCreate.GetSession())
		return r, r.Err != nil
	case *pb.Command_SessionRenew:
		r.OK = true
		r.Err = sessionRenew(tx, cmd.NowUnixNano, c.SessionRenew.GetId())
		return r, r.Err != nil
	case *pb.Command_SessionDestroy:
		r.OK, r.Err = sessionDestroy(tx, idx, cmd.NowUnixNano, c.SessionDestroy)
		return r, r.Err != nil
	case *pb.Command_TombstoneReap:
		r.OK = true
		r.Err = reapTombstones(tx, c.TombstoneReap.Index)
		return r, r.Err != nil
	case *pb.Command_CoordinateUpdate:
		r.OK = true
		r.Err = coordinateBatchUpdate(tx, idx, c.CoordinateUpdate.GetUpdates())
		return r, r.Err != nil
	case *pb.Command_PreparedQuery:
		r.OK = true
		r.Err = applyPreparedQuery(tx, idx, c.PreparedQuery)
		return r, r.Err != nil && !errors.Is(r.Err, ErrBadCommand)
	case *pb.Command_Acl:
		r.OK = true
		r.Err = applyACL(tx, idx, cmd.NowUnixNano, c.Acl)
		return r, r.Err != nil && !errors.Is(r.Err, ErrBadCommand)
	case *pb.Command_KvReplication:
		r.OK = true
		r.Err = applyKVReplication(tx, idx, cmd.NowUnixNano, c.KvReplication)
		return r, r.Err != nil && !errors.Is(r.Err, ErrBadCommand)
	case *pb.Command_AutopilotConfig:
		r.OK, r.Err = applyAutopilotConfig(tx, idx, c.AutopilotConfig)
		return r, r.Err != nil && !errors.Is(r.Err, ErrBadCommand)
	case *pb.Command_Batch:
		r.Err = fmt.Errorf("%w: nested command batch", ErrBadCommand)
		return r, false
	case nil:
		// A command of a later version that its writer marked ignorable
		// (decodeEntry stops the store on any other unknown command).
		r.OK = true
		return r, false
	default:
		// A case of pb.Command without an apply case here: a bug that
		// TestEveryCommandTypeIsApplied catches.
		r.Err = fmt.Errorf("%w: command type %T has no apply case", ErrBadCommand, cmd.Cmd)
		return r, false
	}
}

// applyKV applies a single KV write. Reads are not commands.
func applyKV(tx *memdb.Txn, idx uint64, now int64, op *pb.KVOp) (bool, error) {
	in := op.GetEntry()
	if in == nil {
		return false, fmt.Errorf("%w: kv command without an entry", ErrBadCommand)
	}
	switch op.Verb {
	case pb.KVVerb_KV_SET:
		if in.Key == "" {
			return false, fmt.Errorf("%w: missing key name", ErrBadCommand)
		}
		_, err := kvSet(tx, idx, in)
		return err == nil, err
	case pb.KVVerb_KV_CAS:
		if in.Key == "" {
			return false, fmt.Errorf("%w: missing key name", ErrBadCommand)
		}
		ok, _, err := kvSetCAS(tx, idx, in.ModifyIndex, in)
		return ok, err
	case pb.KVVerb_KV_DELETE:
		return true, kvDelete(tx, idx, in.Key)
	case pb.KVVerb_KV_DELETE_TREE:
		return true, kvDeleteTree(tx, idx, in.Key)
	case pb.KVVerb_KV_DELETE_CAS:
		return kvDeleteCAS(tx, idx, in.ModifyIndex, in.Key)
	case pb.KVVerb_KV_LOCK:
		ok, _, err := kvLock(tx, idx, now, in)
		return ok, err
	case pb.KVVerb_KV_UNLOCK:
		ok, _, err := kvUnlock(tx, idx, in)
		return ok, err
	default:
		return false, fmt.Errorf("%w: kv verb %s is not a write", ErrBadCommand, op.Verb)
	}
}

// txnFailureDirty reports whether a transaction that failed at op failed
// may have written something: any op before it may have, and so may a
// plain write whose failure can only come from the database itself. A CAS
// or a check that fails first writes nothing.
func txnFailureDirty(ops []*pb.TxnOp, failed uint32) bool {
	if failed > 0 || int(failed) >= len(ops) {
		return true
	}
	switch ops[failed].GetKv().GetVerb() {
	case pb.KVVerb_KV_SET, pb.KVVerb_KV_DELETE, pb.KVVerb_KV_DELETE_TREE, pb.KVVerb_KV_LOCK, pb.KVVerb_KV_UNLOCK:
		return true
	}
	return false
}

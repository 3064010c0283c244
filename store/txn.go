package store

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// MaxTxnOps is the most operations one transaction may hold (Consul's limit).
const MaxTxnOps = 128

// TxnIsReadOnly reports whether every op of a transaction only reads, so it
// can be answered without going through Raft.
func TxnIsReadOnly(ops []*pb.TxnOp) bool {
	for _, op := range ops {
		kv := op.GetKv()
		if kv == nil {
			return false
		}
		switch kv.Verb {
		case pb.KVVerb_KV_GET, pb.KVVerb_KV_GET_OR_EMPTY, pb.KVVerb_KV_GET_TREE,
			pb.KVVerb_KV_CHECK_INDEX, pb.KVVerb_KV_CHECK_SESSION, pb.KVVerb_KV_CHECK_NOT_EXISTS:
		default:
			return false
		}
	}
	return true
}

// TxnRead runs a read-only transaction against the current state.
func (s *Store) TxnRead(ops []*pb.TxnOp) (uint64, []*pb.TxnResult, []*pb.TxnError) {
	tx := s.readTxn()
	defer tx.Abort()
	results, errs := txnOps(tx, 0, 0, ops)
	return maxIndex(tx, nil, tableKVs, tableTombstones), results, errs
}

// txnOps applies ops in order on tx at idx. On the first failing op it
// stops and returns the errors; the caller must then abort tx (nothing of a
// failed transaction may be committed).
func txnOps(tx *memdb.Txn, idx uint64, now int64, ops []*pb.TxnOp) ([]*pb.TxnResult, []*pb.TxnError) {
	var results []*pb.TxnResult
	for i, op := range ops {
		kv := op.GetKv()
		if kv == nil {
			return nil, []*pb.TxnError{{OpIndex: uint32(i), What: "unknown transaction operation"}}
		}
		entries, err := txnKV(tx, idx, now, kv)
		if err != nil {
			return nil, []*pb.TxnError{{OpIndex: uint32(i), What: err.Error()}}
		}
		for _, e := range entries {
			results = append(results, &pb.TxnResult{Result: &pb.TxnResult_Kv{Kv: e}})
		}
	}
	return results, nil
}

// txnKV applies one KV op and returns the entries it reports. Only get and
// get-tree report values; the other verbs report the entry without it, and
// deletes report nothing.
func txnKV(tx *memdb.Txn, idx uint64, now int64, op *pb.KVOp) ([]*pb.KVEntry, error) {
	in := op.GetEntry()
	if in == nil {
		return nil, fmt.Errorf("%w: kv operation without an entry", ErrBadCommand)
	}
	key := in.Key
	var entry *kvEntry
	var err error
	switch op.Verb {
	case pb.KVVerb_KV_SET:
		if key == "" {
			return nil, fmt.Errorf("missing key name")
		}
		entry, err = kvSet(tx, idx, in)
	case pb.KVVerb_KV_CAS:
		var ok bool
		ok, entry, err = kvSetCAS(tx, idx, in.ModifyIndex, in)
		if err == nil && !ok {
			err = fmt.Errorf("failed to set key %q, index is stale", key)
		}
	case pb.KVVerb_KV_GET:
		entry, err = kvFirst(tx, key)
		if err == nil && entry == nil {
			err = fmt.Errorf("key %q doesn't exist", key)
		}
		if err != nil {
			return nil, err
		}
		return kvEntriesPB([]*kvEntry{entry})
	case pb.KVVerb_KV_GET_OR_EMPTY:
		entry, err = kvFirst(tx, key)
		if entry == nil {
			return nil, err
		}
		return kvEntriesPB([]*kvEntry{entry})
	case pb.KVVerb_KV_GET_TREE:
		entries, _, err := kvListTxn(tx, key)
		if err != nil {
			return nil, err
		}
		return kvEntriesPB(entries)
	case pb.KVVerb_KV_CHECK_INDEX:
		entry, err = kvFirst(tx, key)
		switch {
		case err != nil:
		case entry == nil:
			err = fmt.Errorf("failed to check index, key %q doesn't exist", key)
		case entry.ModifyIndex != in.ModifyIndex:
			err = fmt.Errorf("failed index check for key %q, current modify index %d != %d", key, entry.ModifyIndex, in.ModifyIndex)
		}
	case pb.KVVerb_KV_CHECK_SESSION:
		entry, err = kvFirst(tx, key)
		switch {
		case err != nil:
		case entry == nil:
			err = fmt.Errorf("failed to check session, key %q doesn't exist", key)
		case entry.Session != in.Session:
			err = fmt.Errorf("failed session check for key %q, current session %q != %q", key, entry.Session, in.Session)
		}
	case pb.KVVerb_KV_CHECK_NOT_EXISTS:
		entry, err = kvFirst(tx, key)
		if err == nil && entry != nil {
			err = fmt.Errorf("key %q exists", key)
		}
		return nil, err
	case pb.KVVerb_KV_DELETE:
		return nil, kvDelete(tx, idx, key)
	case pb.KVVerb_KV_DELETE_TREE:
		return nil, kvDeleteTree(tx, idx, key)
	case pb.KVVerb_KV_DELETE_CAS:
		ok, err := kvDeleteCAS(tx, idx, in.ModifyIndex, key)
		if err == nil && !ok {
			err = fmt.Errorf("failed to delete key %q, index is stale", key)
		}
		return nil, err
	case pb.KVVerb_KV_LOCK:
		var ok bool
		ok, entry, err = kvLock(tx, idx, now, in)
		if err == nil && !ok {
			err = fmt.Errorf("failed to lock key %q, lock is already held", key)
		}
	case pb.KVVerb_KV_UNLOCK:
		var ok bool
		ok, entry, err = kvUnlock(tx, idx, in)
		if err == nil && !ok {
			err = fmt.Errorf("failed to unlock key %q, lock isn't held, or is held by another session", key)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kv verb %d", ErrBadCommand, op.Verb)
	}
	if err != nil || entry == nil {
		return nil, err
	}
	p, err := entry.toPB(false)
	if err != nil {
		return nil, err
	}
	return []*pb.KVEntry{p}, nil
}

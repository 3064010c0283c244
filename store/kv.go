package store

import (
	"bytes"
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// KVGet returns the entry at key, or nil. The index is the entry's
// ModifyIndex when it exists, else the KV table's index (deletes included),
// as Consul reports it. ws is woken when key changes or is deleted.
func (s *Store) KVGet(ws memdb.WatchSet, key string) (uint64, *pb.KVEntry, error) {
	st := s.cur.Load()
	st.kvHub.watchKey(ws, key) // before the read: see kvWatchHub
	tx := st.db.Txn(false)
	defer tx.Abort()
	e := kvGet(kvRead(tx), key)
	if e == nil {
		return maxIndex(tx, ws, tableKVs, tableTombstones), nil, nil
	}
	p, err := e.toPB(true)
	return e.ModifyIndex, p, err
}

// KVList returns every entry whose key starts with prefix, sorted by key.
// The index is the highest ModifyIndex among them and among the tombstones
// under the prefix, so a delete under the prefix moves it forward; with
// neither it is the KV table's index.
func (s *Store) KVList(ws memdb.WatchSet, prefix string) (uint64, []*pb.KVEntry, error) {
	idx, entries, err := s.kvList(ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	out, err := kvEntriesPB(entries)
	return idx, out, err
}

func (s *Store) kvList(ws memdb.WatchSet, prefix string) (uint64, []*kvEntry, error) {
	st := s.cur.Load()
	st.kvHub.watchPrefix(ws, prefix) // before the read: see kvWatchHub
	tx := st.db.Txn(false)
	defer tx.Abort()
	entries, idx, err := kvListTxn(tx, prefix)
	if err != nil {
		return 0, nil, err
	}
	tidx, err := tombstoneMaxIndex(tx, ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	idx = max(idx, tidx)
	if idx == 0 {
		idx = maxIndex(tx, ws, tableKVs, tableTombstones)
	}
	return idx, entries, nil
}

// KVKeys lists the keys under prefix. With a separator, keys are cut after
// the first separator that follows the prefix and deduplicated, so folders
// appear once with a trailing separator. The index follows KVList's rule.
func (s *Store) KVKeys(ws memdb.WatchSet, prefix, sep string) (uint64, []string, error) {
	idx, entries, err := s.kvList(ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	keys := make([]string, 0, len(entries))
	var last string
	for _, e := range entries {
		k := e.Key
		if sep != "" {
			if i := strings.Index(k[len(prefix):], sep); i >= 0 {
				k = k[:len(prefix)+i+len(sep)]
			}
		}
		if len(keys) > 0 && k == last {
			continue
		}
		keys = append(keys, k)
		last = k
	}
	return idx, keys, nil
}

// kvListTxn lists the entries under prefix in key order (the tree's) and
// their highest ModifyIndex. A caller that watches must have taken its
// channel (kvWatchHub.watchPrefix) before it opened tx.
func kvListTxn(tx *memdb.Txn, prefix string) ([]*kvEntry, uint64, error) {
	var out []*kvEntry
	var idx uint64
	kvAscendPrefix(kvRead(tx), prefix, func(e *kvEntry) bool {
		out = append(out, e)
		idx = max(idx, e.ModifyIndex)
		return true
	})
	return out, idx, nil
}

func tombstoneMaxIndex(tx *memdb.Txn, ws memdb.WatchSet, prefix string) (uint64, error) {
	it, err := tx.Get(tableTombstones, "id_prefix", prefix)
	if err != nil {
		return 0, fmt.Errorf("tombstones %q: %w", prefix, err)
	}
	ws.Add(it.WatchCh())
	var idx uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		idx = max(idx, raw.(*tombstoneRow).Index)
	}
	return idx, nil
}

// TombstoneCount is the number of KV tombstones waiting to be reaped.
func (s *Store) TombstoneCount() int {
	tx := s.readTxn()
	defer tx.Abort()
	it, err := tx.Get(tableTombstones, "id")
	if err != nil {
		return 0
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

func kvFirst(tx *memdb.Txn, key string) (*kvEntry, error) {
	return kvGet(kvRead(tx), key), nil
}

// kvSet writes in at idx. CreateIndex, LockIndex and Session of an existing
// entry are kept (a plain set does not touch a lock). A set that changes
// nothing leaves the entry and the indexes alone. It returns the stored entry.
func kvSet(tx *memdb.Txn, idx uint64, in *pb.KVEntry) (*kvEntry, error) {
	existing, err := kvFirst(tx, in.Key)
	if err != nil {
		return nil, err
	}
	if existing != nil && existing.Flags == in.Flags && int(existing.val.n) == len(in.Value) {
		v, err := kvRow(tx).sh.vlog.readOwn(existing.val)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(v, in.Value) {
			return existing, nil
		}
	}
	ref, err := kvNewValue(tx, in.Value)
	if err != nil {
		return nil, err
	}
	e := &kvEntry{
		Key:         in.Key,
		Flags:       in.Flags,
		CreateIndex: idx,
		ModifyIndex: idx,
		val:         ref,
	}
	if existing != nil {
		e.CreateIndex = existing.CreateIndex
		e.LockIndex = existing.LockIndex
		e.Session = existing.Session
	}
	return e, kvInsert(tx, idx, e)
}

func kvInsert(tx *memdb.Txn, idx uint64, e *kvEntry) error {
	if err := kvPut(tx, e); err != nil {
		return fmt.Errorf("kv insert %q: %w", e.Key, err)
	}
	// A key written again is no longer deleted.
	if _, err := tx.DeleteAll(tableTombstones, "id", e.Key); err != nil {
		return err
	}
	return setIndex(tx, tableKVs, idx)
}

// kvSetCAS sets in only if the entry's ModifyIndex equals index; index 0
// means the key must not exist.
func kvSetCAS(tx *memdb.Txn, idx, index uint64, in *pb.KVEntry) (bool, *kvEntry, error) {
	existing, err := kvFirst(tx, in.Key)
	if err != nil {
		return false, nil, err
	}
	switch {
	case index == 0 && existing != nil:
		return false, nil, nil
	case index != 0 && (existing == nil || existing.ModifyIndex != index):
		return false, nil, nil
	}
	e, err := kvSet(tx, idx, in)
	return err == nil, e, err
}

// kvDelete removes key, leaving a tombstone. Deleting a missing key is a
// no-op.
func kvDelete(tx *memdb.Txn, idx uint64, key string) error {
	existing, err := kvFirst(tx, key)
	if err != nil || existing == nil {
		return err
	}
	return kvDeleteEntry(tx, idx, existing)
}

func kvDeleteEntry(tx *memdb.Txn, idx uint64, e *kvEntry) error {
	if err := kvRemove(tx, e.Key); err != nil {
		return fmt.Errorf("kv delete %q: %w", e.Key, err)
	}
	if err := tx.Insert(tableTombstones, &tombstoneRow{Key: e.Key, Index: idx}); err != nil {
		return fmt.Errorf("tombstone %q: %w", e.Key, err)
	}
	if err := setIndex(tx, tableKVs, idx); err != nil {
		return err
	}
	return setIndex(tx, tableTombstones, idx)
}

// kvDeleteCAS deletes key only if its ModifyIndex equals index. A missing
// key counts as deleted.
func kvDeleteCAS(tx *memdb.Txn, idx, index uint64, key string) (bool, error) {
	existing, err := kvFirst(tx, key)
	if err != nil {
		return false, err
	}
	if existing == nil {
		return true, nil
	}
	if existing.ModifyIndex != index {
		return false, nil
	}
	return true, kvDeleteEntry(tx, idx, existing)
}

// kvDeleteTree deletes every key under prefix.
func kvDeleteTree(tx *memdb.Txn, idx uint64, prefix string) error {
	doomed, _, err := kvListTxn(tx, prefix)
	if err != nil {
		return fmt.Errorf("kv delete-tree %q: %w", prefix, err)
	}
	for _, e := range doomed {
		if err := kvDeleteEntry(tx, idx, e); err != nil {
			return err
		}
	}
	return nil
}

// reapTombstones removes tombstones whose index is at most index.
func reapTombstones(tx *memdb.Txn, index uint64) error {
	it, err := tx.Get(tableTombstones, "id")
	if err != nil {
		return err
	}
	var doomed []*tombstoneRow
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if t := raw.(*tombstoneRow); t.Index <= index {
			doomed = append(doomed, t)
		}
	}
	for _, t := range doomed {
		if err := tx.Delete(tableTombstones, t); err != nil {
			return err
		}
	}
	// KV replication needs to know that deletes at or below index can no
	// longer be seen (see KVChanges).
	if len(doomed) == 0 {
		return nil
	}
	return setIndex(tx, indexTombstonesReaped, index)
}

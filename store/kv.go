package store

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// KVGet returns the entry at key, or nil. The index is the entry's
// ModifyIndex when it exists, else the KV table's index (deletes included),
// as Consul reports it. ws is woken when key changes or is deleted.
func (s *Store) KVGet(ws memdb.WatchSet, key string) (uint64, *pb.KVEntry, error) {
	tx := s.readTxn()
	defer tx.Abort()
	ch, raw, err := tx.FirstWatch(tableKVs, "id", key)
	if err != nil {
		return 0, nil, fmt.Errorf("kv get %q: %w", key, err)
	}
	ws.Add(ch)
	if raw == nil {
		return maxIndex(tx, ws, tableKVs, tableTombstones), nil, nil
	}
	e := raw.(*pb.KVEntry)
	return e.ModifyIndex, e, nil
}

// KVList returns every entry whose key starts with prefix, sorted by key.
// The index is the highest ModifyIndex among them and among the tombstones
// under the prefix, so a delete under the prefix moves it forward; with
// neither it is the KV table's index.
func (s *Store) KVList(ws memdb.WatchSet, prefix string) (uint64, []*pb.KVEntry, error) {
	tx := s.readTxn()
	defer tx.Abort()
	entries, idx, err := kvListTxn(tx, ws, prefix)
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
	idx, entries, err := s.KVList(ws, prefix)
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

func kvListTxn(tx *memdb.Txn, ws memdb.WatchSet, prefix string) ([]*pb.KVEntry, uint64, error) {
	it, err := tx.Get(tableKVs, "id_prefix", prefix)
	if err != nil {
		return nil, 0, fmt.Errorf("kv list %q: %w", prefix, err)
	}
	ws.Add(it.WatchCh())
	var out []*pb.KVEntry
	var idx uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := raw.(*pb.KVEntry)
		out = append(out, e)
		idx = max(idx, e.ModifyIndex)
	}
	// memdb iterates the radix tree in key order already; keep the promise
	// explicit in case an index changes.
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Key < out[j].Key }) {
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	}
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

func kvFirst(tx *memdb.Txn, key string) (*pb.KVEntry, error) {
	raw, err := tx.First(tableKVs, "id", key)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*pb.KVEntry), nil
}

// kvSet writes in at idx. CreateIndex, LockIndex and Session of an existing
// entry are kept (a plain set does not touch a lock). A set that changes
// nothing leaves the entry and the indexes alone. It returns the stored entry.
func kvSet(tx *memdb.Txn, idx uint64, in *pb.KVEntry) (*pb.KVEntry, error) {
	existing, err := kvFirst(tx, in.Key)
	if err != nil {
		return nil, err
	}
	e := &pb.KVEntry{
		Key:         in.Key,
		Value:       in.Value,
		Flags:       in.Flags,
		CreateIndex: idx,
		ModifyIndex: idx,
	}
	if existing != nil {
		if bytes.Equal(existing.Value, in.Value) && existing.Flags == in.Flags {
			return existing, nil
		}
		e.CreateIndex = existing.CreateIndex
		e.LockIndex = existing.LockIndex
		e.Session = existing.Session
	}
	return e, kvInsert(tx, idx, e)
}

func kvInsert(tx *memdb.Txn, idx uint64, e *pb.KVEntry) error {
	if err := tx.Insert(tableKVs, e); err != nil {
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
func kvSetCAS(tx *memdb.Txn, idx, index uint64, in *pb.KVEntry) (bool, *pb.KVEntry, error) {
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

func kvDeleteEntry(tx *memdb.Txn, idx uint64, e *pb.KVEntry) error {
	if err := tx.Delete(tableKVs, e); err != nil {
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
	it, err := tx.Get(tableKVs, "id_prefix", prefix)
	if err != nil {
		return fmt.Errorf("kv delete-tree %q: %w", prefix, err)
	}
	var doomed []*pb.KVEntry
	for raw := it.Next(); raw != nil; raw = it.Next() {
		doomed = append(doomed, raw.(*pb.KVEntry))
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

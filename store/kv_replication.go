package store

import (
	"fmt"
	"sort"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// tableKVReplication holds one progress row per source datacenter of KV
// replication; indexTombstonesReaped is the index-table key recording the
// highest tombstone index reaped, below which deletes can no longer be
// told apart from keys that never existed.
const (
	tableKVReplication    = "kv_replication"
	indexTombstonesReaped = "tombstones_reaped"
)

// KVReplicationState returns the replication progress from source, or nil
// when nothing has been replicated from it.
func (s *Store) KVReplicationState(source string) *pb.KVReplicationState {
	tx := s.readTxn()
	defer tx.Abort()
	raw, err := tx.First(tableKVReplication, "id", source)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*pb.KVReplicationState)
}

// applyKVReplication applies replicated changes in order and records the
// progress, all in tx: both or neither take effect.
func applyKVReplication(tx *memdb.Txn, idx uint64, now int64, c *pb.KVReplicationApply) error {
	if c.GetSourceDatacenter() == "" {
		return fmt.Errorf("%w: kv replication without a source datacenter", ErrBadCommand)
	}
	for _, ch := range c.Changes {
		if ch.Key == "" {
			return fmt.Errorf("%w: kv replication change without a key", ErrBadCommand)
		}
	}
	for _, ch := range c.Changes {
		var err error
		if ch.Delete {
			err = kvDelete(tx, idx, ch.Key)
		} else {
			_, err = kvSet(tx, idx, &pb.KVEntry{Key: ch.Key, Value: ch.Value, Flags: ch.Flags})
		}
		if err != nil {
			return err
		}
	}
	st := &pb.KVReplicationState{SourceDatacenter: c.SourceDatacenter, SourceIndex: c.SourceIndex, Index: idx, UpdatedUnixNano: now}
	if err := tx.Insert(tableKVReplication, st); err != nil {
		return fmt.Errorf("kv replication state: %w", err)
	}
	return setIndex(tx, tableKVReplication, idx)
}

// KVChanges is what KV replication asks of its source: the entries under
// prefixes (minus those under exclude) modified after since, and the keys
// deleted after since, each sorted by index; index is the KV index the
// answer is complete up to. When since is 0, or tombstones after since
// were reaped, full is set and entries holds every key instead (the caller
// deletes what it has beyond them), and also when since is past the KV
// index (the source went back to an older state). ws is woken by changes under the
// prefixes.
func (s *Store) KVChanges(ws memdb.WatchSet, prefixes, exclude []string, since uint64) (entries []*pb.KVEntry, deleted []*pb.Tombstone, index uint64, full bool, err error) {
	st := s.cur.Load()
	for _, p := range prefixes {
		st.kvHub.watchPrefix(ws, p) // before the read: see kvWatchHub
	}
	tx := st.db.Txn(false)
	defer tx.Abort()
	index = maxIndex(tx, nil, tableKVs, tableTombstones)
	// A full copy too when since is past anything this store has: the
	// source was rebuilt from an older state, and what the caller holds
	// beyond it must go.
	full = since == 0 || since < maxIndex(tx, nil, indexTombstonesReaped) || since > max(index, 1)
	excluded := func(key string) bool {
		for _, x := range exclude {
			if strings.HasPrefix(key, x) {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	for _, p := range prefixes {
		list, _, err := kvListTxn(tx, p)
		if err != nil {
			return nil, nil, 0, false, err
		}
		for _, e := range list {
			if seen[e.Key] || excluded(e.Key) || (!full && e.ModifyIndex <= since) {
				continue
			}
			seen[e.Key] = true
			p, err := e.toPB(true)
			if err != nil {
				return nil, nil, 0, false, err
			}
			entries = append(entries, p)
		}
		it, err := tx.Get(tableTombstones, "id_prefix", p)
		if err != nil {
			return nil, nil, 0, false, fmt.Errorf("tombstones %q: %w", p, err)
		}
		ws.Add(it.WatchCh())
		for raw := it.Next(); raw != nil; raw = it.Next() {
			t := raw.(*tombstoneRow)
			if full || t.Index <= since || seen[t.Key] || excluded(t.Key) {
				continue
			}
			seen[t.Key] = true
			deleted = append(deleted, &pb.Tombstone{Key: t.Key, Index: t.Index})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].ModifyIndex < entries[j].ModifyIndex })
	sort.SliceStable(deleted, func(i, j int) bool { return deleted[i].Index < deleted[j].Index })
	return entries, deleted, index, full, nil
}

package store

import (
	"fmt"
	"strings"
	"sync"

	"github.com/google/btree"
	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// The KV entries live in a copy-on-write B-tree ordered by key rather than
// in a go-memdb table: memdb's radix tree costs a node, a leaf and two
// watch channels per key (~400 B), the B-tree a pointer in a node's array
// (~23 B per key with the nodes' free room, measured at a million keys). The tree is immutable once published; it is held as the one row
// of tableKVTree, so a memdb read transaction sees the entries and the
// index table at the same point, and a write transaction's changes to both
// commit or abort together. Keys held by a session are also rows of
// tableKVSessions (few keys are), which finds them when the session ends.
//
// Blocking reads are woken through a kvWatchHub, which holds channels only
// for keys and prefixes someone is watching (memdb held two per key).
const (
	tableKVTree     = "kv_tree"
	tableKVSessions = "kv_sessions"
	kvTreeRowID     = "kv"
	// kvTreeDegree gives nodes of up to 31 entries: a write copies five
	// nodes of ~0.5 KB on the path to a key of a million.
	kvTreeDegree = 16
)

type kvTree = btree.BTreeG[*kvEntry]

func kvLess(a, b *kvEntry) bool { return a.Key < b.Key }

// kvEntry is a stored KV entry (80 bytes): pb.KVEntry's fields, with the
// value in the value log. Entries in a published tree are never changed.
type kvEntry struct {
	Key         string
	Session     string
	Flags       uint64
	LockIndex   uint64
	CreateIndex uint64
	ModifyIndex uint64
	val         valueRef
}

// toPB returns the entry as the API's message, with its value read from
// the value log when withValue is set.
func (e *kvEntry) toPB(withValue bool) (*pb.KVEntry, error) {
	out := &pb.KVEntry{
		Key:         e.Key,
		Flags:       e.Flags,
		Session:     e.Session,
		LockIndex:   e.LockIndex,
		CreateIndex: e.CreateIndex,
		ModifyIndex: e.ModifyIndex,
	}
	if withValue {
		v, err := e.val.read()
		if err != nil {
			return nil, fmt.Errorf("kv %q: %w", e.Key, err)
		}
		out.Value = v
	}
	return out, nil
}

// kvEntriesPB converts entries with their values.
func kvEntriesPB(entries []*kvEntry) ([]*pb.KVEntry, error) {
	out := make([]*pb.KVEntry, len(entries))
	for i, e := range entries {
		p, err := e.toPB(false)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	refs := make([]valueRef, len(entries))
	for i, e := range entries {
		refs[i] = e.val
	}
	err := readValues(refs, func(i int, v []byte) { out[i].Value = v })
	if err != nil {
		return nil, fmt.Errorf("kv values: %w", err)
	}
	return out, nil
}

func newKVShared(vlog *valueLog) *kvShared {
	return &kvShared{hub: newKVWatchHub(), vlog: vlog, live: map[*vseg]int64{}}
}

// kvShared is what every version of the tree row of one state shares.
type kvShared struct {
	hub  *kvWatchHub
	vlog *valueLog
	// live counts the value bytes of each segment the committed tree
	// refers to (see kvRelocate); only the state machine's goroutine
	// touches it.
	live map[*vseg]int64
}

func newKVTree() *kvTree { return btree.NewG(kvTreeDegree, kvLess) }

// kvTreeRow is the only row of tableKVTree.
type kvTreeRow struct {
	ID   string
	tree *kvTree
	sh   *kvShared
	// owner is the write transaction that made this row and may change
	// tree in place; nil once that transaction committed (the tree is
	// then read concurrently and never changed again).
	owner *memdb.Txn
	// changed holds the keys owner wrote or deleted, for the watchers
	// once it commits; live the change to kvShared.live.
	changed []string
	live    map[*vseg]int64
}

// valueAdded accounts a value the tree gained (sign 1) or lost (-1).
func (w *kvTreeRow) valueAdded(r valueRef, sign int64) {
	if r.seg == nil {
		return
	}
	if w.live == nil {
		w.live = map[*vseg]int64{}
	}
	w.live[r.seg] += sign * int64(r.n)
}

// kvSessionRow marks a key held by a session.
type kvSessionRow struct {
	Key     string
	Session string
}

func kvTreeSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		tableKVTree: {
			Name: tableKVTree,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
		tableKVSessions: {
			Name: tableKVSessions,
			Indexes: map[string]*memdb.IndexSchema{
				"id":      {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
				"session": {Name: "session", Indexer: &memdb.StringFieldIndex{Field: "Session"}},
			},
		},
	}
}

// initKVTree puts an empty tree into a new database.
func initKVTree(db *memdb.MemDB, sh *kvShared) error {
	tx := db.Txn(true)
	defer tx.Abort()
	if err := tx.Insert(tableKVTree, &kvTreeRow{ID: kvTreeRowID, tree: newKVTree(), sh: sh}); err != nil {
		return fmt.Errorf("kv tree: %w", err)
	}
	tx.Commit()
	return nil
}

// kvRead is the tree as tx sees it. The caller must not change it.
func kvRead(tx *memdb.Txn) *kvTree {
	return kvRow(tx).tree
}

func kvRow(tx *memdb.Txn) *kvTreeRow {
	raw, err := tx.First(tableKVTree, "id", kvTreeRowID)
	if err != nil || raw == nil {
		// Every database is created with the row (newState), and nothing
		// deletes it.
		panic(fmt.Sprintf("store: kv tree row missing (%v)", err))
	}
	return raw.(*kvTreeRow)
}

// kvWrite is the tree tx may change: on its first change, a clone of the
// committed tree (O(1); nodes are copied as they are written), published
// and handed to the watchers if tx commits, dropped if it aborts.
func kvWrite(tx *memdb.Txn) (*kvTreeRow, error) {
	cur := kvRow(tx)
	if cur.owner == tx {
		return cur, nil
	}
	w := &kvTreeRow{ID: kvTreeRowID, tree: cur.tree.Clone(), sh: cur.sh, owner: tx}
	if err := tx.Insert(tableKVTree, w); err != nil {
		return nil, fmt.Errorf("kv tree: %w", err) // a read transaction
	}
	tx.Defer(func() {
		w.owner = nil
		for seg, n := range w.live {
			if w.sh.live[seg] += n; w.sh.live[seg] <= 0 {
				delete(w.sh.live, seg)
			}
		}
		w.live = nil
		w.sh.hub.fire(w.changed)
		w.changed = nil
	})
	return w, nil
}

// kvGet is the entry at key in t, or nil.
func kvGet(t *kvTree, key string) *kvEntry {
	e, _ := t.Get(&kvEntry{Key: key})
	return e
}

// kvAscendPrefix calls fn with every entry whose key starts with prefix,
// in key order, until fn returns false.
func kvAscendPrefix(t *kvTree, prefix string, fn func(*kvEntry) bool) {
	visit := func(e *kvEntry) bool {
		return strings.HasPrefix(e.Key, prefix) && fn(e)
	}
	if prefix == "" {
		t.Ascend(visit)
		return
	}
	t.AscendGreaterOrEqual(&kvEntry{Key: prefix}, visit)
}

// kvNewValue stores a value for an entry tx is about to put.
func kvNewValue(tx *memdb.Txn, v []byte) (valueRef, error) {
	w, err := kvWrite(tx)
	if err != nil {
		return valueRef{}, err
	}
	return w.sh.vlog.append(v)
}

// kvPut stores e (replacing the entry at its key) and keeps the session
// rows in step.
func kvPut(tx *memdb.Txn, e *kvEntry) error {
	w, err := kvWrite(tx)
	if err != nil {
		return err
	}
	old, had := w.tree.ReplaceOrInsert(e)
	w.changed = append(w.changed, e.Key)
	w.valueAdded(e.val, 1)
	var oldSession string
	if had {
		w.valueAdded(old.val, -1)
		oldSession = old.Session
	}
	if oldSession == e.Session {
		return nil
	}
	if oldSession != "" {
		if _, err := tx.DeleteAll(tableKVSessions, "id", e.Key); err != nil {
			return fmt.Errorf("kv session of %q: %w", e.Key, err)
		}
	}
	if e.Session != "" {
		if err := tx.Insert(tableKVSessions, &kvSessionRow{Key: e.Key, Session: e.Session}); err != nil {
			return fmt.Errorf("kv session of %q: %w", e.Key, err)
		}
	}
	return nil
}

// kvRemove deletes the entry at key.
func kvRemove(tx *memdb.Txn, key string) error {
	w, err := kvWrite(tx)
	if err != nil {
		return err
	}
	old, had := w.tree.Delete(&kvEntry{Key: key})
	if !had {
		return nil
	}
	w.changed = append(w.changed, key)
	w.valueAdded(old.val, -1)
	if old.Session != "" {
		if _, err := tx.DeleteAll(tableKVSessions, "id", key); err != nil {
			return fmt.Errorf("kv session of %q: %w", key, err)
		}
	}
	return nil
}

// kvHeldBy lists the entries held by session id.
func kvHeldBy(tx *memdb.Txn, id string) ([]*kvEntry, error) {
	it, err := tx.Get(tableKVSessions, "session", id)
	if err != nil {
		return nil, err
	}
	t := kvRead(tx)
	var out []*kvEntry
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if e := kvGet(t, raw.(*kvSessionRow).Key); e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// kvWatchHub wakes blocking reads of the KV store. A reader takes its
// channel before it opens its read transaction; a committed write closes
// the channels of what it changed after it is published. So a read either
// sees a write or is woken by it.
type kvWatchHub struct {
	mu       sync.Mutex
	keys     map[string]chan struct{}
	prefixes map[string]chan struct{}
	// lens counts the watched prefixes by length: a write to a key looks
	// up the key's prefixes of those lengths only.
	lens map[int]int
	// sweepAt bounds the channels held: a channel goes when its key is
	// written, so keys watched once and never written (a wait for a key
	// that never comes) would pile up. Past sweepAt every channel is
	// closed; each waiter wakes, reads the same index and waits again on
	// a new one. Set to twice the count swept (at least minHubSweep), the
	// sweeps cost O(1) per watch.
	sweepAt int
}

const minHubSweep = 1 << 16

func newKVWatchHub() *kvWatchHub {
	return &kvWatchHub{
		keys:     map[string]chan struct{}{},
		prefixes: map[string]chan struct{}{},
		lens:     map[int]int{},
		sweepAt:  minHubSweep,
	}
}

// sweep closes every channel (h.mu held).
func (h *kvWatchHub) sweep() {
	n := len(h.keys) + len(h.prefixes)
	for _, ch := range h.keys {
		close(ch)
	}
	for _, ch := range h.prefixes {
		close(ch)
	}
	clear(h.keys)
	clear(h.prefixes)
	clear(h.lens)
	h.sweepAt = max(minHubSweep, 2*n)
}

// watchKey adds to ws a channel closed when key is written or deleted.
// With a nil ws it does nothing.
func (h *kvWatchHub) watchKey(ws memdb.WatchSet, key string) { h.watch(ws, key, false) }

// watchPrefix adds to ws a channel closed when any key under prefix is
// written or deleted. With a nil ws it does nothing.
func (h *kvWatchHub) watchPrefix(ws memdb.WatchSet, prefix string) { h.watch(ws, prefix, true) }

func (h *kvWatchHub) watch(ws memdb.WatchSet, s string, prefix bool) {
	if ws == nil {
		return
	}
	h.mu.Lock()
	chans := h.keys
	if prefix {
		chans = h.prefixes
	}
	ch, ok := chans[s]
	if !ok {
		ch = make(chan struct{})
		chans[s] = ch
		if prefix {
			h.lens[len(s)]++
		}
		if len(h.keys)+len(h.prefixes) > h.sweepAt {
			h.sweep()
		}
	}
	h.mu.Unlock()
	ws.Add(ch)
}

// fire closes the channels of the keys changed and of the prefixes they
// are under.
func (h *kvWatchHub) fire(changed []string) {
	if len(changed) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.keys) == 0 && len(h.prefixes) == 0 {
		return
	}
	for _, key := range changed {
		if ch, ok := h.keys[key]; ok {
			close(ch)
			delete(h.keys, key)
		}
		for n := range h.lens {
			if n <= len(key) {
				h.firePrefix(key[:n])
			}
		}
	}
}

func (h *kvWatchHub) firePrefix(p string) {
	ch, ok := h.prefixes[p]
	if !ok {
		return
	}
	close(ch)
	delete(h.prefixes, p)
	if h.lens[len(p)]--; h.lens[len(p)] == 0 {
		delete(h.lens, len(p))
	}
}

// watched is how many keys and prefixes have a channel (for tests).
func (h *kvWatchHub) watched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.keys) + len(h.prefixes)
}

// kvRelocate moves the values of sparse segments to the current one: a
// segment other than the current whose committed entries hold less than a
// quarter of it. The entries are replaced by copies that differ only in
// where their value is, so no reader sees a change and no watcher is woken;
// the old segment's file is closed once no tree refers to it. It walks the
// whole tree, which happens about once per segment's worth of overwritten
// values.
func kvRelocate(tx *memdb.Txn) error {
	sh := kvRow(tx).sh
	var sparse map[*vseg]bool
	for seg, live := range sh.live {
		if seg != sh.vlog.cur && live*4 < seg.size {
			if sparse == nil {
				sparse = map[*vseg]bool{}
			}
			sparse[seg] = true
		}
	}
	if sparse == nil {
		return nil
	}
	w, err := kvWrite(tx)
	if err != nil {
		return err
	}
	var moving []*kvEntry
	w.tree.Ascend(func(e *kvEntry) bool {
		if sparse[e.val.seg] {
			moving = append(moving, e)
		}
		return true
	})
	for _, e := range moving {
		v, err := sh.vlog.readOwn(e.val)
		if err != nil {
			return err
		}
		ref, err := sh.vlog.append(v)
		if err != nil {
			return err
		}
		moved := *e
		moved.val = ref
		w.tree.ReplaceOrInsert(&moved)
		w.valueAdded(e.val, -1)
		w.valueAdded(ref, 1)
	}
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
)

// ErrBadCommand is returned for a command the store refuses: a missing or
// invalid field. Every server refuses it alike, so it changes no state and
// the log goes on (unlike ErrStopped).
var ErrBadCommand = errors.New("bad command")

// state is one generation of the database. Restore replaces it whole.
type state struct {
	db *memdb.MemDB
	// abandonCh is closed when this generation is replaced, so blocking
	// queries against it return at once and read the new one.
	abandonCh chan struct{}
	// kvHub wakes blocking reads of the KV store (see kvtree.go).
	kvHub *kvWatchHub
}

// Store is the state store. It is safe for concurrent use: any number of
// readers and one writer (the FSM) at a time.
type Store struct {
	cur atomic.Pointer[state]
	// vlog holds the KV store's values; only the state machine appends.
	vlog *valueLog
	// stopped holds the error of the first log entry the store could not
	// interpret; from then on it applies nothing (see ErrStopped).
	stopped atomic.Pointer[error]
}

// Options configure a store.
type Options struct {
	// ValueDir is the directory of the files that hold the KV store's
	// values (see valueLog): a server's data directory. Empty means the
	// system's temporary directory.
	ValueDir string
}

// New returns an empty store that keeps its values in the system's
// temporary directory.
func New() (*Store, error) {
	return NewWithOptions(Options{})
}

// NewWithOptions returns an empty store. A ValueDir is created if missing,
// and emptied of files a process that used it before left behind.
func NewWithOptions(o Options) (*Store, error) {
	if o.ValueDir != "" {
		if err := os.MkdirAll(o.ValueDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: value directory: %w", err)
		}
		if err := removeStaleValueFiles(o.ValueDir); err != nil {
			return nil, fmt.Errorf("store: value directory: %w", err)
		}
	}
	s := &Store{vlog: newValueLog(o.ValueDir)}
	// The first segment now: a directory that cannot hold the values
	// fails the start, not the first write.
	if err := s.vlog.rotate(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	st, err := newState(s.vlog)
	if err != nil {
		return nil, err
	}
	s.cur.Store(st)
	return s, nil
}

func newState(vlog *valueLog) (*state, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("create memdb: %w", err)
	}
	sh := newKVShared(vlog)
	if err := initKVTree(db, sh); err != nil {
		return nil, err
	}
	return &state{db: db, abandonCh: make(chan struct{}), kvHub: sh.hub}, nil
}

// AbandonCh is closed when the store's contents are replaced by a restore.
// A blocking query adds it to its watch set.
func (s *Store) AbandonCh() <-chan struct{} {
	return s.cur.Load().abandonCh
}

func (s *Store) readTxn() *memdb.Txn {
	return s.cur.Load().db.Txn(false)
}

func (s *Store) writeTxn() *memdb.Txn {
	return s.cur.Load().db.Txn(true)
}

// replace swaps in a new generation and abandons the old one.
func (s *Store) replace(st *state) {
	old := s.cur.Swap(st)
	close(old.abandonCh)
}

// TableIndex returns the highest index that changed any of the tables.
func (s *Store) TableIndex(ws memdb.WatchSet, tables ...string) uint64 {
	tx := s.readTxn()
	defer tx.Abort()
	return maxIndex(tx, ws, tables...)
}

// LastIndex is the highest index that changed anything in the store.
func (s *Store) LastIndex() uint64 {
	tx := s.readTxn()
	defer tx.Abort()
	return lastIndex(tx, nil)
}

// WaitIndex blocks until the store has applied a change at index idx or
// later (LastIndex >= idx), or ctx ends. A follower uses it to serve a
// linearizable read once it has caught up with the leader's read index.
func (s *Store) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		ws := memdb.NewWatchSet()
		ws.Add(s.AbandonCh())
		tx := s.readTxn()
		last := lastIndex(tx, ws)
		tx.Abort()
		if last >= idx {
			return nil
		}
		if err := ws.WatchCtx(ctx); err != nil {
			return err
		}
	}
}

func lastIndex(tx *memdb.Txn, ws memdb.WatchSet) uint64 {
	it, err := tx.Get(tableIndex, "id")
	if err != nil {
		return 0
	}
	if ws != nil {
		ws.Add(it.WatchCh())
	}
	var max uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if v := raw.(*indexRow).Value; v > max {
			max = v
		}
	}
	return max
}

func maxIndex(tx *memdb.Txn, ws memdb.WatchSet, tables ...string) uint64 {
	var max uint64
	for _, t := range tables {
		ch, raw, err := tx.FirstWatch(tableIndex, "id", t)
		if err != nil {
			continue
		}
		ws.Add(ch)
		if raw != nil {
			if v := raw.(*indexRow).Value; v > max {
				max = v
			}
		}
	}
	return max
}

func setIndex(tx *memdb.Txn, table string, idx uint64) error {
	raw, err := tx.First(tableIndex, "id", table)
	if err != nil {
		return err
	}
	if raw != nil && raw.(*indexRow).Value >= idx {
		return nil
	}
	return tx.Insert(tableIndex, &indexRow{Key: table, Value: idx})
}

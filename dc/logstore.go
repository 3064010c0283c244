package dc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"

	"github.com/meridian-io/meridian/internal/logging"
)

// The Raft log store backends (Consul's raft_logstore.backend).
const (
	// LogStoreWAL is hashicorp/raft-wal: append-only segment files, one
	// fsync per append, under raft/wal/.
	LogStoreWAL = "wal"
	// LogStoreBoltDB is raft-boltdb: one bbolt file, raft/raft.db, two
	// fsyncs per append.
	LogStoreBoltDB = "boltdb"
)

// Where each backend keeps its data under <data-dir>/raft. A migration
// writes the destination under its name plus migratingSuffix, renames it
// into place once it is complete and synced, then renames the source
// aside (plus migratedSuffix).
const (
	boltFile        = "raft.db"
	walDir          = "wal"
	migratingSuffix = ".migrating"
	migratedSuffix  = ".migrated"
)

// logStore is a log and stable store with what closes it.
type logStore struct {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// openLogStore opens the log and stable store of backend under dir (the
// data directory's raft/), first completing or redoing an interrupted
// migration and migrating the other backend's data when that is what the
// directory holds:
//
//   - only the other backend's store: it is copied into the configured one
//     (written beside it, synced, renamed into place), then renamed aside;
//   - both stores: a migration was interrupted after its destination was
//     renamed into place (the commit point) and before its source was put
//     aside. Nothing wrote to either since, so they hold the same log: the
//     configured one is kept and the other renamed aside;
//   - a leftover *.migrating: the copy of an interrupted migration, whose
//     source is still in place; it is removed and the migration redone.
func openLogStore(dir, backend string, opts logStoreOptions, log *slog.Logger) (*logStore, error) {
	if backend == "" {
		backend = LogStoreWAL
	}
	other := LogStoreBoltDB
	if backend == LogStoreBoltDB {
		other = LogStoreWAL
	} else if backend != LogStoreWAL {
		return nil, fmt.Errorf("unknown raft log store backend %q (want %q or %q)", backend, LogStoreWAL, LogStoreBoltDB)
	}
	for _, b := range []string{backend, other} {
		if err := os.RemoveAll(storePath(dir, b) + migratingSuffix); err != nil {
			return nil, err
		}
	}
	have, err := exists(storePath(dir, backend))
	if err != nil {
		return nil, err
	}
	haveOther, err := exists(storePath(dir, other))
	if err != nil {
		return nil, err
	}
	switch {
	case have && haveOther:
		log.Warn("raft log store: finishing an interrupted migration", "keep", backend, "set_aside", other)
		if err := setAside(dir, other); err != nil {
			return nil, err
		}
	case haveOther:
		if err := migrateLogStore(dir, other, backend, opts, log); err != nil {
			return nil, fmt.Errorf("migrate raft log from %s to %s: %w", other, backend, err)
		}
	}
	return openBackend(storePath(dir, backend), backend, opts, log)
}

// logStoreOptions are the backends' tunables.
type logStoreOptions struct {
	// NoFreelistSync: bbolt rebuilds its freelist on open instead of
	// writing it on every commit.
	NoFreelistSync bool
	// WALSegmentSize is the size of one WAL segment file (0: raft-wal's
	// default, 64 MiB).
	WALSegmentSize int
}

func storePath(dir, backend string) string {
	if backend == LogStoreBoltDB {
		return filepath.Join(dir, boltFile)
	}
	return filepath.Join(dir, walDir)
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// openBackend opens one backend's store at path (created if missing).
func openBackend(path, backend string, opts logStoreOptions, log *slog.Logger) (*logStore, error) {
	if backend == LogStoreBoltDB {
		bolt, err := raftboltdb.New(raftboltdb.Options{
			Path: path,
			// The freelist is rebuilt on open instead of written on every
			// commit: fewer pages per fsync on the write path.
			BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: opts.NoFreelistSync},
		})
		if err != nil {
			return nil, err
		}
		return &logStore{LogStore: bolt, StableStore: bolt, Closer: bolt}, nil
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, err
	}
	if err := checkWALUnlocked(path, time.Second); err != nil {
		return nil, err
	}
	// The meta store is given so it can be closed: the WAL's Close leaves
	// it open (and its file lock held, so the directory could not be
	// opened again in this process).
	meta := &metadb.BoltMetaDB{}
	w, err := raftwal.Open(path, raftwal.WithMetaStore(meta),
		raftwal.WithSegmentFiler(walFiler{segment.NewFiler(path, walfs.New())}),
		raftwal.WithLogger(logging.HCLog(log, "wal")),
		raftwal.WithMetricsCollector(walMetrics{}),
		raftwal.WithSegmentSize(opts.WALSegmentSize)) // 0: the default
	if err != nil {
		meta.Close()
		return nil, err
	}
	return &logStore{LogStore: walLog{w}, StableStore: w, Closer: walCloser{w, meta}}, nil
}

// walFiler opens raft-wal v0.4.0's segment files, working around its bug
// (hashicorp/raft-wal#31, fixed upstream in v0.4.1, which is not available
// here): a tail truncation (a follower clearing a log suffix it had not
// committed) marks the tail segment sealed without writing its index
// block, and once the process restarts every read from that segment fails
// ("sealed segment has no index block"), which stops Raft. Such a segment
// is opened the way the tail is recovered, by reading its frames through
// (checksummed, read only); the WAL's state still bounds what is read from
// it to [MinIndex, MaxIndex].
type walFiler struct{ *segment.Filer }

func (f walFiler) Open(info types.SegmentInfo) (types.SegmentReader, error) {
	if !info.SealTime.IsZero() && info.IndexStart == 0 {
		return f.Filer.RecoverTail(info)
	}
	return f.Filer.Open(info)
}

// walLog is the WAL as Raft's log store, answering ErrLogNotFound below its
// first index: raft-wal v0.4.0 still serves entries a head truncation
// removed while they sit in the tail segment, so a leader would replay a
// compacted log to a follower instead of sending it the snapshot, unlike
// raft-boltdb.
type walLog struct{ *raftwal.WAL }

func (w walLog) GetLog(index uint64, l *raft.Log) error {
	first, err := w.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return w.WAL.GetLog(index, l)
}

// walCloser closes a WAL and then its meta store.
type walCloser struct {
	w    *raftwal.WAL
	meta *metadb.BoltMetaDB
}

func (c walCloser) Close() error {
	return errors.Join(c.w.Close(), c.meta.Close())
}

// migrateLogStore copies the log and stable store of backend from into a
// new store of backend to, crash-safely: the copy is written under a
// temporary name and synced, renamed into place (the commit point), and
// only then is the source renamed aside. A crash at any step leaves a
// directory openLogStore completes or redoes (see there).
func migrateLogStore(dir, from, to string, opts logStoreOptions, log *slog.Logger) error {
	start := time.Now()
	src, err := openBackend(storePath(dir, from), from, opts, log)
	if err != nil {
		return fmt.Errorf("open %s: %w", from, err)
	}
	srcOpen := true
	defer func() {
		if srcOpen {
			src.Close()
		}
	}()
	tmp := storePath(dir, to) + migratingSuffix
	dst, err := openBackend(tmp, to, opts, log)
	if err != nil {
		return fmt.Errorf("open %s: %w", tmp, err)
	}
	n, err := copyLogStore(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Every write to dst was synced (both backends sync each append and
	// each stable-store write); what remains is the directory entries.
	if to == LogStoreWAL {
		if err := syncDir(tmp); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := migrateHook("copied"); err != nil {
		return err
	}
	if err := os.Rename(tmp, storePath(dir, to)); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := migrateHook("renamed"); err != nil {
		return err
	}
	srcOpen = false
	if err := src.Close(); err != nil {
		return err
	}
	if err := setAside(dir, from); err != nil {
		return err
	}
	// A copy set aside by an earlier migration the other way is older
	// than what the directory now holds.
	if err := os.RemoveAll(storePath(dir, to) + migratedSuffix); err != nil {
		return err
	}
	log.Info("raft log store migrated", "from", from, "to", to, "entries", n,
		"set_aside", storePath(dir, from)+migratedSuffix, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// migrateHook lets tests stop a migration between its steps, as a crash
// would; it returns nil in production.
var migrateHook = func(step string) error { return nil }

// copyLogStore copies every log entry and Raft's stable-store keys from src
// into the empty dst and returns the number of entries copied.
func copyLogStore(dst, src *logStore) (uint64, error) {
	for _, k := range []string{"CurrentTerm", "LastVoteTerm"} {
		v, err := src.GetUint64([]byte(k))
		if err != nil && !isNotFound(err) {
			return 0, fmt.Errorf("read %s: %w", k, err)
		}
		if err == nil {
			if err := dst.SetUint64([]byte(k), v); err != nil {
				return 0, fmt.Errorf("write %s: %w", k, err)
			}
		}
	}
	v, err := src.Get([]byte("LastVoteCand"))
	if err != nil && !isNotFound(err) {
		return 0, fmt.Errorf("read LastVoteCand: %w", err)
	}
	if err == nil && v != nil {
		if err := dst.Set([]byte("LastVoteCand"), v); err != nil {
			return 0, fmt.Errorf("write LastVoteCand: %w", err)
		}
	}
	first, err := src.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := src.LastIndex()
	if err != nil {
		return 0, err
	}
	if last == 0 {
		return 0, nil
	}
	if err := migrate.CopyLogs(context.Background(), dst, src, 4<<20, nil); err != nil {
		return 0, err
	}
	// The copy is checked end to end before it is committed.
	gotFirst, err := dst.FirstIndex()
	if err != nil {
		return 0, err
	}
	gotLast, err := dst.LastIndex()
	if err != nil {
		return 0, err
	}
	if gotFirst != first || gotLast != last {
		return 0, fmt.Errorf("copied log holds [%d, %d], source [%d, %d]", gotFirst, gotLast, first, last)
	}
	return last - first + 1, nil
}

// isNotFound reports a stable-store key that was never set (raft-boltdb
// says "not found"; raft-wal returns nil, nil).
func isNotFound(err error) bool {
	return err != nil && (err.Error() == "not found" || errors.Is(err, raftwal.ErrNotFound))
}

// setAside renames backend's store under dir to its *.migrated name,
// replacing an older one, and syncs dir.
func setAside(dir, backend string) error {
	path := storePath(dir, backend)
	aside := path + migratedSuffix
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	if err := os.Rename(path, aside); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// walMetrics passes the WAL's counters and gauges (appends, bytes written
// and read, segment rotations, ...) to go-metrics' global sink, where
// Raft's own metrics go, as raft.wal.<name>.
type walMetrics struct{}

func (walMetrics) IncrementCounter(name string, delta uint64) {
	metrics.IncrCounter([]string{"raft", "wal", name}, float32(delta))
}

func (walMetrics) SetGauge(name string, val uint64) {
	metrics.SetGauge([]string{"raft", "wal", name}, float32(val))
}

package dc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/store"
)

// fsm adapts the state store to raft.BatchingFSM: a batch of committed
// commands is applied in one store transaction.
type fsm struct {
	store *store.Store
	log   *slog.Logger
	// applied is the index of the last log entry the store has applied
	// (raft's AppliedIndex counts entries handed to the FSM, not applied).
	applied atomic.Uint64
	// stoppedCh closes (once) when the store stops applying the log
	// because an entry could not be interpreted (store.ErrStopped).
	stoppedCh   chan struct{}
	stoppedOnce sync.Once
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) > 0 {
		defer f.applied.Store(logs[len(logs)-1].Index)
	}
	out := make([]any, len(logs))
	entries := make([]store.Entry, 0, len(logs))
	pos := make([]int, 0, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		entries = append(entries, store.Entry{Index: l.Index, Data: l.Data})
		pos = append(pos, i)
	}
	if len(entries) == 0 {
		return out
	}
	for j, r := range f.store.ApplyBatch(entries) {
		if r.Err != nil && !errors.Is(r.Err, store.ErrStopped) {
			f.log.Warn("refused raft command", "index", r.Index, "error", r.Err)
		}
		out[pos[j]] = r
	}
	if err := f.store.Stopped(); err != nil {
		f.stoppedOnce.Do(func() {
			f.log.Error("stopped applying the raft log: this server cannot interpret a committed entry "+
				"and will not skip it; upgrade it and restart it", "error", err)
			close(f.stoppedCh)
		})
	}
	return out
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.Restore(rc); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return nil
}

type fsmSnapshot struct {
	snap *store.Snapshot
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.snap.Close() }

// unbatchedFSM hides ApplyBatch, so Raft applies one entry at a time (one
// store transaction per command). It exists to measure what batching buys.
type unbatchedFSM struct{ f *fsm }

func (u unbatchedFSM) Apply(l *raft.Log) any               { return u.f.Apply(l) }
func (u unbatchedFSM) Snapshot() (raft.FSMSnapshot, error) { return u.f.Snapshot() }
func (u unbatchedFSM) Restore(rc io.ReadCloser) error      { return u.f.Restore(rc) }

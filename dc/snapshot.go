package dc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/snapshot"
	"github.com/meridian-io/meridian/store"
)

// ErrSnapshotNotLeader is returned by RestoreSnapshot on a server that
// does not lead: a restore goes through the leader's Raft.
var ErrSnapshotNotLeader = errors.New("snapshot restore must be sent to the leader")

// restoreTimeout bounds how long a restore may take to be taken up by
// Raft and replicated to a quorum (followers install it as a snapshot).
const restoreTimeout = 5 * time.Minute

// SavedSnapshot is a snapshot of the datacenter's state staged for
// writing as an archive. Close removes what it staged.
type SavedSnapshot struct {
	// Meta is the archive's metadata (Index is the state's last index).
	Meta  snapshot.Meta
	state *os.File
}

// WriteArchive writes the archive (see package snapshot) to w.
func (ss *SavedSnapshot) WriteArchive(w io.Writer) error {
	if _, err := ss.state.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("dc: staged snapshot: %w", err)
	}
	return snapshot.Write(w, ss.Meta, ss.state)
}

// Close removes the staged state.
func (ss *SavedSnapshot) Close() { removeTemp(ss.state) }

// SaveSnapshot snapshots the datacenter's state and stages it in a
// temporary file (the archive's tar header needs its size first); the
// caller writes it out with WriteArchive and must Close it. Unless stale, the
// state holds every write acknowledged before the call (the read is
// linearized as a consistent read is, so a follower may serve it); with
// stale it is whatever this server has applied.
func (s *Server) SaveSnapshot(ctx context.Context, stale bool) (*SavedSnapshot, error) {
	if s.raft == nil {
		return nil, rpc.ErrShutdown
	}
	if !stale {
		if err := s.linearize(ctx); err != nil {
			return nil, err
		}
	}
	snap := s.store.Snapshot()
	defer snap.Close()
	tmp, err := s.snapshotTemp()
	if err != nil {
		return nil, err
	}
	size, err := snap.WriteTo(tmp)
	if err != nil {
		removeTemp(tmp)
		return nil, fmt.Errorf("dc: stage snapshot: %w", err)
	}
	meta := snapshot.Meta{
		Version: int(raft.SnapshotVersionMax),
		Index:   snap.Index(),
		Size:    size,
	}
	meta.Term, _ = strconv.ParseUint(s.raft.Stats()["term"], 10, 64)
	meta.ID = fmt.Sprintf("%d-%d-%d", meta.Term, meta.Index, time.Now().UnixMilli())
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		meta.ConfigurationIndex = f.Index()
		for _, srv := range f.Configuration().Servers {
			meta.Configuration.Servers = append(meta.Configuration.Servers,
				snapshot.Server{Suffrage: int(srv.Suffrage), ID: string(srv.ID), Address: string(srv.Address)})
		}
	}
	return &SavedSnapshot{Meta: meta, state: tmp}, nil
}

// RestoreSnapshot replaces the datacenter's state with the archive read
// from r. The archive is read whole and verified first (sums, metadata,
// and the state decoded as the store would decode it): a corrupted,
// truncated or foreign archive returns an error wrapping
// snapshot.ErrInvalid or store.ErrBadSnapshot and changes nothing. Then
// the leader restores it through Raft, which replaces its store
// atomically (waking every blocking query) and leaves a gap in the log,
// so that followers install it as a snapshot; RestoreSnapshot returns once
// a quorum has it. Only the leader restores (ErrSnapshotNotLeader).
func (s *Server) RestoreSnapshot(ctx context.Context, r io.Reader) (*snapshot.Meta, error) {
	if s.raft == nil {
		return nil, rpc.ErrShutdown
	}
	if !s.IsLeader() {
		return nil, ErrSnapshotNotLeader
	}
	tmp, err := s.snapshotTemp()
	if err != nil {
		return nil, err
	}
	defer removeTemp(tmp)
	meta, err := readChecked(r, tmp)
	if err != nil {
		return nil, err
	}
	if meta.Version < int(raft.SnapshotVersionMin) || meta.Version > int(raft.SnapshotVersionMax) {
		return nil, fmt.Errorf("%w: snapshot version %d is not supported", snapshot.ErrInvalid, meta.Version)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("dc: staged snapshot: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rm := &raft.SnapshotMeta{Version: raft.SnapshotVersion(meta.Version), Index: meta.Index, Term: meta.Term, Size: meta.Size}
	if err := s.raft.Restore(rm, tmp, restoreTimeout); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: %v", ErrSnapshotNotLeader, err)
		}
		return nil, fmt.Errorf("dc: restore snapshot: %w", err)
	}
	s.fsm.applied.Store(max(s.fsm.applied.Load(), s.raft.AppliedIndex()))
	s.log.Info("restored snapshot", "snapshot_index", meta.Index, "bytes", meta.Size)
	return meta, nil
}

// readChecked reads the archive from r into tmp and, while it does,
// decodes the state as the store would restore it: Raft panics when a
// restore it was handed fails, so nothing reaches Raft that the store
// would refuse. The archive's sums are checked too (snapshot.Read), and
// its errors come first.
func readChecked(r io.Reader, tmp io.Writer) (*snapshot.Meta, error) {
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		err := store.CheckSnapshot(pr)
		// Keep draining so the archive reader never blocks on a check
		// that stopped early.
		io.Copy(io.Discard, pr)
		checked <- err
	}()
	meta, err := snapshot.Read(r, io.MultiWriter(tmp, pw))
	pw.CloseWithError(err) // nil: the check sees EOF
	checkErr := <-checked
	if err != nil {
		return nil, err
	}
	if checkErr != nil {
		return nil, checkErr
	}
	return meta, nil
}

// snapshotTemp creates the file a snapshot is staged in: under the data
// directory when there is one (same disk as Raft's snapshots), else in
// the system's temporary directory.
func (s *Server) snapshotTemp() (*os.File, error) {
	dir := ""
	if s.cfg.DataDir != "" {
		dir = s.cfg.DataDir
	}
	f, err := os.CreateTemp(dir, "snapshot-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("dc: stage snapshot: %w", err)
	}
	return f, nil
}

func removeTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

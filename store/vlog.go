package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
)

// valueLog keeps the KV store's values out of the Go heap, in files of the
// server's data directory. A value is appended to the current segment and
// its entry keeps where (segment, offset, length); reads are pread(2)s
// that the page cache serves. The files hold no state of their own: the
// Raft log and snapshots do, and the state machine is rebuilt from them on
// every start, so a segment file is unlinked as soon as it is created (it
// goes when the process does, crash included) and never synced.
//
// A segment stays open while anything refers to it: the committed tree,
// an older tree a reader or a snapshot still holds, or the log itself
// while it is current. Its file is closed by a cleanup once the garbage
// collector finds none left. Values overwritten or deleted leave dead
// bytes behind; a segment whose committed entries hold less than a
// quarter of it has them moved to the current segment (kvRelocate), so
// the disk space in use stays within about four times the live values.
//
// Only the state machine's goroutine appends; readers read values of
// committed entries, which are flushed before their commit (flush).
type valueLog struct {
	dir    string
	segMax int64
	cur    *vseg
	// discard drops values instead of storing them (a snapshot read only
	// to check it).
	discard bool
	stats   *valueLogStats
	// err is the first write error. It sticks: the state machine must not
	// commit a state whose values it could not keep (another server's
	// would differ), so it stops applying (Store.ApplyBatch).
	err error
}

// valueLogStats counts the segment files open and the bytes in them, old
// segments that readers still hold included.
type valueLogStats struct {
	segments, bytes atomic.Int64
}

// vseg is one segment file of a valueLog.
type vseg struct {
	f *os.File
	// size is how much has been appended (the writer's only).
	size int64
	// flushed is how much of it is in the file; readers read below it.
	flushed atomic.Int64
	// buf holds what was appended after flushed (the writer's only).
	buf   []byte
	stats *valueLogStats
}

// segmentFile is what closing a segment's file needs: not the segment,
// which must be unreachable for its cleanup to run.
type segmentFile struct {
	f     *os.File
	stats *valueLogStats
}

func closeSegment(sf segmentFile) {
	if fi, err := sf.f.Stat(); err == nil {
		sf.stats.bytes.Add(-fi.Size())
	}
	sf.stats.segments.Add(-1)
	sf.f.Close()
}

// valueRef is where a value is: n bytes at off in seg; the empty value has
// no segment.
type valueRef struct {
	seg *vseg
	off uint32
	n   uint32
}

const (
	defaultSegmentSize = 64 << 20
	// segmentBuffer is how much is appended before it is written out
	// without waiting for a commit.
	segmentBuffer = 1 << 20
)

// valueFilePattern names segment files; each is unlinked right after it is
// created, so one is seen only if a process died in between.
const valueFilePattern = "kv-values-*"

// removeStaleValueFiles deletes segment files left in dir by a process
// that died between creating and unlinking one. Only a directory of the
// store's own (a data directory's) may be cleared like this.
func removeStaleValueFiles(dir string) error {
	stale, err := filepath.Glob(filepath.Join(dir, valueFilePattern))
	if err != nil {
		return err
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func newValueLog(dir string) *valueLog {
	if dir == "" {
		dir = os.TempDir()
	}
	return &valueLog{dir: dir, segMax: defaultSegmentSize, stats: &valueLogStats{}}
}

// append stores v and says where.
func (l *valueLog) append(v []byte) (valueRef, error) {
	if l.err != nil {
		return valueRef{}, l.err
	}
	if len(v) == 0 || l.discard {
		return valueRef{}, nil
	}
	if l.cur == nil || (l.cur.size > 0 && l.cur.size+int64(len(v)) > l.segMax) {
		if err := l.rotate(); err != nil {
			return valueRef{}, err
		}
	}
	s := l.cur
	ref := valueRef{seg: s, off: uint32(s.size), n: uint32(len(v))}
	s.buf = append(s.buf, v...)
	s.size += int64(len(v))
	if len(s.buf) >= segmentBuffer {
		if err := l.flush(); err != nil {
			return valueRef{}, err
		}
	}
	return ref, nil
}

// rotate flushes the current segment and starts a new one.
func (l *valueLog) rotate() error {
	if err := l.flush(); err != nil {
		return err
	}
	f, err := os.CreateTemp(l.dir, valueFilePattern)
	if err != nil {
		l.err = fmt.Errorf("value log: %w", err)
		return l.err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		l.err = fmt.Errorf("value log: unlink %s: %w", f.Name(), err)
		return l.err
	}
	s := &vseg{f: f, stats: l.stats}
	l.stats.segments.Add(1)
	runtime.AddCleanup(s, closeSegment, segmentFile{f, l.stats})
	l.cur = s
	return nil
}

// flush writes out what the current segment buffers, or returns the log's
// first error. The state machine calls it before every commit.
func (l *valueLog) flush() error {
	if l.err != nil || l.cur == nil {
		return l.err
	}
	l.err = l.cur.flush()
	return l.err
}

func (s *vseg) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	off := s.flushed.Load()
	if _, err := s.f.WriteAt(s.buf, off); err != nil {
		return fmt.Errorf("value log: write: %w", err)
	}
	s.flushed.Store(off + int64(len(s.buf)))
	s.stats.bytes.Add(int64(len(s.buf)))
	if cap(s.buf) > 2*segmentBuffer {
		s.buf = nil // a value larger than the buffer: do not keep its room
	} else {
		s.buf = s.buf[:0]
	}
	return nil
}

// readOwn is read for the state machine: an error sticks, as a write
// error does, since a command cannot fail on one server alone.
func (l *valueLog) readOwn(r valueRef) ([]byte, error) {
	v, err := r.read()
	if err != nil && l.err == nil {
		l.err = err
	}
	return v, err
}

// maxValueRun bounds one read of values that lie end to end.
const maxValueRun = 1 << 20

// readValues reads the values refs point at and hands each to set with
// its place in refs. Values that lie end to end in a segment (written one
// after another, as a tree of keys often is) are read with one pread of up
// to maxValueRun; they then share that read's array, each capped to its
// own bytes.
func readValues(refs []valueRef, set func(i int, v []byte)) error {
	for i := 0; i < len(refs); {
		r := refs[i]
		j, end := i+1, int64(r.off)+int64(r.n)
		for j < len(refs) && refs[j].seg == r.seg && r.seg != nil && int64(refs[j].off) == end &&
			end+int64(refs[j].n)-int64(r.off) <= maxValueRun {
			end += int64(refs[j].n)
			j++
		}
		if j == i+1 || end > r.seg.flushed.Load() {
			// One value, or values of the writer's own transaction not
			// flushed yet: one by one.
			for ; i < j; i++ {
				v, err := refs[i].read()
				if err != nil {
					return err
				}
				set(i, v)
			}
			continue
		}
		buf := make([]byte, end-int64(r.off))
		if _, err := r.seg.f.ReadAt(buf, int64(r.off)); err != nil {
			return fmt.Errorf("value log: read %d bytes at %d: %w", len(buf), r.off, err)
		}
		var at uint32
		for ; i < j; i++ {
			n := refs[i].n
			set(i, buf[at:at+n:at+n])
			at += n
		}
	}
	return nil
}

// read returns the value ref points at, in a new slice.
func (r valueRef) read() ([]byte, error) {
	if r.n == 0 {
		return nil, nil
	}
	out := make([]byte, r.n)
	off := int64(r.off)
	if fl := r.seg.flushed.Load(); off+int64(r.n) > fl {
		// Appended by the writer's own transaction and not flushed yet:
		// only the writer reads such a value.
		copy(out, r.seg.buf[off-fl:])
		return out, nil
	}
	if _, err := r.seg.f.ReadAt(out, off); err != nil {
		return nil, fmt.Errorf("value log: read %d bytes at %d: %w", r.n, off, err)
	}
	return out, nil
}

// ValueLogUsage is how many files hold the KV store's values and how many
// bytes they take on disk (see valueLog): the values of the current state
// and of older ones readers or snapshots still hold, and the dead bytes
// of segments not yet relocated.
func (s *Store) ValueLogUsage() (files int, bytes int64) {
	return int(s.vlog.stats.segments.Load()), s.vlog.stats.bytes.Load()
}

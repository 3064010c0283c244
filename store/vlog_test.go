package store

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
)

// segmentsOf counts the distinct segments the committed tree's values are in.
func segmentsOf(s *Store) int {
	tx := s.readTxn()
	defer tx.Abort()
	segs := map[*vseg]bool{}
	kvRead(tx).Ascend(func(e *kvEntry) bool {
		if e.val.seg != nil {
			segs[e.val.seg] = true
		}
		return true
	})
	return len(segs)
}

// openValueFiles counts this process's open (unlinked) segment files in dir.
func openValueFiles(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, filepath.Join(dir, "kv-values-")) {
			n++
		}
	}
	return n
}

// TestValueLogRelocates: values spread over many segments read back
// intact; once most are overwritten, the sparse segments' live values move
// to the current one, the entries keep their indexes, and the files of
// segments nothing refers to any more are closed.
func TestValueLogRelocates(t *testing.T) {
	dir := t.TempDir()
	s, err := NewWithOptions(Options{ValueDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.vlog.segMax = 4 << 10 // 16 values of 256 B per segment
	a := &applier{t: t, s: s}
	value := func(i, round int) string { return fmt.Sprintf("%03d/%d/%s", i, round, strings.Repeat("v", 248)) }
	for i := range 200 {
		a.kv(pb.KVVerb_KV_SET, fmt.Sprintf("k/%03d", i), value(i, 0), 0)
	}
	if n := segmentsOf(s); n < 12 {
		t.Fatalf("200 values of 256 B in %d segments of 4 KiB, want at least 12", n)
	}
	before := map[string]uint64{}
	for i := range 200 {
		key := fmt.Sprintf("k/%03d", i)
		before[key] = a.get(key).ModifyIndex
	}
	// Overwrite all but every tenth key, several times: every old segment
	// is left with at most two live values of sixteen.
	for round := 1; round <= 3; round++ {
		for i := range 200 {
			if i%10 != 0 {
				a.kv(pb.KVVerb_KV_SET, fmt.Sprintf("k/%03d", i), value(i, round), 0)
			}
		}
	}
	for i := range 200 {
		want := value(i, 3)
		if i%10 == 0 {
			want = value(i, 0)
		}
		a.mustValue(fmt.Sprintf("k/%03d", i), want)
		if i%10 == 0 {
			if got := a.get(fmt.Sprintf("k/%03d", i)).ModifyIndex; got != before[fmt.Sprintf("k/%03d", i)] {
				t.Fatalf("k/%03d moved and its ModifyIndex changed: %d, was %d", i, got, before[fmt.Sprintf("k/%03d", i)])
			}
		}
	}
	for seg, live := range kvSharedOf(s).live {
		if seg != s.vlog.cur && live*4 < seg.size {
			t.Fatalf("a segment of %d B holds %d live after relocation", seg.size, live)
		}
	}
	// 180 live values of 256 B need 12 segments; allow the current one's
	// slack and those being filled.
	if n := segmentsOf(s); n > 16 {
		t.Fatalf("values in %d segments after relocation, want at most 16", n)
	}
	// The files of the segments left behind are closed once collected.
	want := segmentsOf(s)
	if !segmentInUse(s, s.vlog.cur) {
		want++ // the current one, which the log holds
	}
	deadline := time.Now().Add(10 * time.Second)
	for openValueFiles(t, dir) > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d segment files open, %d in use", openValueFiles(t, dir), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanups run after the collection
	}
	if files, bytes := s.ValueLogUsage(); files != want || bytes < 180*256 || bytes > int64(want)*s.vlog.segMax {
		t.Fatalf("value log usage: %d files, %d bytes; want %d files of 180 values of 256 B and some dead", files, bytes, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("value directory lists %d files; segments are unlinked when created", len(entries))
	}
}

func segmentInUse(s *Store, seg *vseg) bool {
	tx := s.readTxn()
	defer tx.Abort()
	found := false
	kvRead(tx).Ascend(func(e *kvEntry) bool {
		found = e.val.seg == seg
		return !found
	})
	return found
}

func kvSharedOf(s *Store) *kvShared {
	tx := s.readTxn()
	defer tx.Abort()
	return kvRow(tx).sh
}

// TestValueLogWriteErrorStops: a value the store cannot write stops it
// before the batch commits (another server may have it), with the error,
// and every later command is refused; what was committed before stays.
func TestValueLogWriteErrorStops(t *testing.T) {
	dir := t.TempDir()
	s, err := NewWithOptions(Options{ValueDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{t: t, s: s}
	a.kv(pb.KVVerb_KV_SET, "before", "kept", 0)
	s.vlog.segMax = 1                         // the next value needs a new segment file...
	if err := os.RemoveAll(dir); err != nil { // ...where none can be made
		t.Fatal(err)
	}
	r := a.kv(pb.KVVerb_KV_SET, "after", "lost", 0)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "value log") {
		t.Fatalf("write with no value file: %+v, want a value log error", r)
	}
	if s.Stopped() == nil {
		t.Fatal("store goes on applying after a value it could not keep")
	}
	a.mustMissing("after")
	a.mustValue("before", "kept")
	if r := a.kv(pb.KVVerb_KV_DELETE, "before", "", 0); r.Err == nil {
		t.Fatal("a stopped store applied a delete")
	}
}

// TestValueDirStaleFilesRemoved: files a process left in its value
// directory (it died between creating and unlinking one) go at start.
func TestValueDirStaleFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "kv-values-123")
	if err := os.WriteFile(stale, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWithOptions(Options{ValueDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale value file still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("another file was removed: %v", err)
	}
}

// TestValueDirUnusable: a value directory the store cannot write to fails
// its creation with the reason (an agent then exits at start), instead of
// stopping the store at the first write.
func TestValueDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewWithOptions(Options{ValueDir: file})
	if err == nil || !strings.Contains(err.Error(), "value directory") {
		t.Fatalf("store over a file as its value directory: %v, want a value directory error", err)
	}
}

// TestValueLogConcurrentReaders: readers of committed entries always read
// the value that was written with them, while the writer overwrites keys,
// rotates small segments, relocates sparse ones and old segments' files
// are closed as the collector finds them unreferenced.
func TestValueLogConcurrentReaders(t *testing.T) {
	s, err := NewWithOptions(Options{ValueDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.vlog.segMax = 2 << 10
	a := &applier{t: t, s: s}
	const keys = 40
	value := func(key string, idx uint64) string {
		return fmt.Sprintf("%s@%d/%s", key, idx, strings.Repeat("x", 100))
	}
	check := func(e *pb.KVEntry) error {
		if want := value(e.Key, e.ModifyIndex); string(e.Value) != want {
			return fmt.Errorf("%s at %d reads %q, want %q", e.Key, e.ModifyIndex, e.Value, want)
		}
		return nil
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for r := range 4 {
		go func() {
			var n int
			defer func() { errs <- nil }()
			for {
				select {
				case <-done:
					return
				default:
				}
				n++
				if r%2 == 0 {
					_, list, err := s.KVList(nil, "k/")
					if err != nil {
						errs <- err
						return
					}
					for _, e := range list {
						if err := check(e); err != nil {
							errs <- err
							return
						}
					}
				} else if _, e, err := s.KVGet(nil, fmt.Sprintf("k/%02d", n%keys)); err != nil {
					errs <- err
					return
				} else if e != nil {
					if err := check(e); err != nil {
						errs <- err
						return
					}
				}
				if n%50 == 0 {
					runtime.GC()
				}
			}
		}()
	}
	a.kv(pb.KVVerb_KV_SET, "k/00", value("k/00", a.idx+1), 0)
	tx0 := s.readTxn()
	first := kvGet(kvRead(tx0), "k/00").val.seg
	tx0.Abort()
	for i := 1; i < 2000; i++ {
		// Every tenth key is written once, the rest over and over: their
		// segments go sparse and are relocated.
		k := i % keys
		if k%10 == 0 && i >= keys {
			continue
		}
		key := fmt.Sprintf("k/%02d", k)
		a.kv(pb.KVVerb_KV_SET, key, value(key, a.idx+1), 0)
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tx := s.readTxn()
	if e := kvGet(kvRead(tx), "k/00"); e.val.seg == first {
		t.Fatal("k/00, written once, is still in its first segment: nothing was relocated")
	}
	tx.Abort()
	for i := range keys {
		key := fmt.Sprintf("k/%02d", i)
		e := a.get(key)
		if err := check(e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadValuesRuns: values read together come back each as written,
// whether they lie end to end (one read, up to the bound), apart, empty,
// in other segments, or not flushed yet; a run's values do not spill into
// each other when appended to.
func TestReadValuesRuns(t *testing.T) {
	l := newValueLog(t.TempDir())
	l.segMax = 8 << 10
	var refs []valueRef
	var want []string
	add := func(v string) {
		r, err := l.append([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		refs, want = append(refs, r), append(want, v)
	}
	for i := range 100 { // several segments, values end to end within each
		add(fmt.Sprintf("value %03d %s", i, strings.Repeat("y", i)))
		if i%7 == 0 {
			add("")
		}
	}
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	add("not flushed yet")
	add("nor this")
	check := func(refs []valueRef, want []string) {
		t.Helper()
		got := make([]string, len(refs))
		err := readValues(refs, func(i int, v []byte) {
			if len(v) > 0 {
				_ = append(v, '!') // must not reach the next value
			}
			got[i] = string(v)
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("value %d: %q, want %q", i, got[i], want[i])
			}
		}
	}
	check(refs, want)
	// Out of order: no runs.
	var rrefs []valueRef
	var rwant []string
	for i := len(refs) - 1; i >= 0; i-- {
		rrefs, rwant = append(rrefs, refs[i]), append(rwant, want[i])
	}
	check(rrefs, rwant)
	// A run longer than one read may take.
	big := newValueLog(t.TempDir())
	var brefs []valueRef
	var bwant []string
	for i := range 3 * maxValueRun / (64 << 10) {
		v := fmt.Sprintf("%06d", i) + strings.Repeat("z", 64<<10-6)
		r, err := big.append([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		brefs, bwant = append(brefs, r), append(bwant, v)
	}
	if err := big.flush(); err != nil {
		t.Fatal(err)
	}
	check(brefs, bwant)
}

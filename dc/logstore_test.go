package dc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var quietLog = slog.New(slog.DiscardHandler)

// fillLog writes entries [first, last] and Raft's stable-store keys.
func fillLog(t *testing.T, ls *logStore, first, last uint64, tag string) {
	t.Helper()
	var logs []*raft.Log
	for i := first; i <= last; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("%s-%d", tag, i))})
	}
	if err := ls.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := ls.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if err := ls.SetUint64([]byte("LastVoteTerm"), 2); err != nil {
		t.Fatal(err)
	}
	if err := ls.Set([]byte("LastVoteCand"), []byte("s2")); err != nil {
		t.Fatal(err)
	}
}

// checkLog fails unless ls holds exactly [first, last] as fillLog wrote it.
func checkLog(t *testing.T, ls *logStore, first, last uint64, tag string) {
	t.Helper()
	gotFirst, err := ls.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	gotLast, err := ls.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if gotFirst != first || gotLast != last {
		t.Fatalf("log holds [%d, %d], want [%d, %d]", gotFirst, gotLast, first, last)
	}
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := ls.GetLog(i, &l); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if want := fmt.Sprintf("%s-%d", tag, i); string(l.Data) != want || l.Index != i || l.Term != 3 {
			t.Fatalf("entry %d: %+v, want data %q", i, l, want)
		}
	}
	if first > 1 {
		var l raft.Log
		if err := ls.GetLog(first-1, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("entry %d below the first: %v, want ErrLogNotFound", first-1, err)
		}
	}
	if v, err := ls.GetUint64([]byte("CurrentTerm")); err != nil || v != 3 {
		t.Fatalf("CurrentTerm %d %v", v, err)
	}
	if v, err := ls.GetUint64([]byte("LastVoteTerm")); err != nil || v != 2 {
		t.Fatalf("LastVoteTerm %d %v", v, err)
	}
	if v, err := ls.Get([]byte("LastVoteCand")); err != nil || string(v) != "s2" {
		t.Fatalf("LastVoteCand %q %v", v, err)
	}
}

// dirHas fails unless exactly the names in want exist under dir.
func dirHas(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s holds %v, want %v", dir, got, want)
	}
}

func openLS(t *testing.T, dir, backend string) *logStore {
	t.Helper()
	ls, err := openLogStore(dir, backend, logStoreOptions{NoFreelistSync: true, WALSegmentSize: 1 << 20}, quietLog)
	if err != nil {
		t.Fatalf("open %s: %v", backend, err)
	}
	return ls
}

// A bolt data directory opened with the WAL backend is migrated once:
// the same log (compacted, so not starting at 1) and stable keys, the
// bolt file set aside; and back again with the boltdb backend.
func TestLogStoreMigratesBetweenBackends(t *testing.T) {
	dir := t.TempDir()
	ls := openLS(t, dir, LogStoreBoltDB)
	fillLog(t, ls, 7, 300, "a")
	ls.Close()
	dirHas(t, dir, "raft.db")

	ls = openLS(t, dir, LogStoreWAL)
	checkLog(t, ls, 7, 300, "a")
	if _, ok := ls.LogStore.(walLog); !ok {
		t.Fatalf("log store is %T, want the WAL", ls.LogStore)
	}
	// It keeps working: appends after the copied entries.
	if err := ls.StoreLog(&raft.Log{Index: 301, Term: 3, Data: []byte("a-301")}); err != nil {
		t.Fatal(err)
	}
	ls.Close()
	dirHas(t, dir, "raft.db.migrated", "wal")

	// Opened again: nothing to migrate, the appended entry is there.
	ls = openLS(t, dir, LogStoreWAL)
	checkLog(t, ls, 7, 301, "a")
	ls.Close()

	ls = openLS(t, dir, LogStoreBoltDB)
	checkLog(t, ls, 7, 301, "a")
	ls.Close()
	// The older bolt copy set aside before is gone: it is superseded.
	dirHas(t, dir, "raft.db", "wal.migrated")
}

// A migration stopped at any step (as by a crash) leaves a directory the
// next start completes or redoes, with nothing lost and no leftovers.
func TestLogStoreMigrationCrashSafe(t *testing.T) {
	for _, step := range []string{"copied", "renamed"} {
		for _, to := range []string{LogStoreWAL, LogStoreBoltDB} {
			t.Run(step+"/to-"+to, func(t *testing.T) {
				from := LogStoreBoltDB
				if to == LogStoreBoltDB {
					from = LogStoreWAL
				}
				dir := t.TempDir()
				ls := openLS(t, dir, from)
				fillLog(t, ls, 1, 120, "b")
				ls.Close()

				crash := errors.New("crash at " + step)
				migrateHook = func(s string) error {
					if s == step {
						return crash
					}
					return nil
				}
				t.Cleanup(func() { migrateHook = func(string) error { return nil } })
				if _, err := openLogStore(dir, to, logStoreOptions{WALSegmentSize: 1 << 20}, quietLog); !errors.Is(err, crash) {
					t.Fatalf("open with a crash at %s: %v", step, err)
				}
				migrateHook = func(string) error { return nil }

				ls = openLS(t, dir, to)
				checkLog(t, ls, 1, 120, "b")
				ls.Close()
				dirHas(t, dir, storeNames(to, from)...)
			})
		}
	}
	// A copy interrupted part way: a leftover destination with garbage
	// in it is removed and the migration redone.
	dir := t.TempDir()
	ls := openLS(t, dir, LogStoreBoltDB)
	fillLog(t, ls, 1, 10, "c")
	ls.Close()
	if err := os.MkdirAll(filepath.Join(dir, "wal.migrating"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wal.migrating", "wal-meta.db"), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	ls = openLS(t, dir, LogStoreWAL)
	checkLog(t, ls, 1, 10, "c")
	ls.Close()
	dirHas(t, dir, "raft.db.migrated", "wal")
}

// storeNames is what a raft dir holds after migrating from into to.
func storeNames(to, from string) []string {
	if to == LogStoreWAL {
		return []string{"raft.db.migrated", "wal"}
	}
	return []string{"raft.db", "wal.migrated"}
}

// An empty store (a server that never got an entry) migrates too.
func TestLogStoreMigratesAnEmptyLog(t *testing.T) {
	dir := t.TempDir()
	ls := openLS(t, dir, LogStoreBoltDB)
	if err := ls.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	ls.Close()
	ls = openLS(t, dir, LogStoreWAL)
	defer ls.Close()
	if last, err := ls.LastIndex(); err != nil || last != 0 {
		t.Fatalf("last index %d %v", last, err)
	}
	if v, err := ls.GetUint64([]byte("CurrentTerm")); err != nil || v != 1 {
		t.Fatalf("CurrentTerm %d %v", v, err)
	}
}

// A follower clearing an uncommitted suffix (a tail truncation) and
// restarting reads its whole log (raft-wal v0.4.0 alone fails here: see
// walFiler), and entries a compaction removed are not served.
func TestWALTruncationsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ls := openLS(t, dir, LogStoreWAL)
	fillLog(t, ls, 1, 40, "old")
	if err := ls.DeleteRange(31, 40); err != nil {
		t.Fatal(err)
	}
	fillLog(t, ls, 31, 50, "new")
	ls.Close()

	ls = openLS(t, dir, LogStoreWAL)
	for i := uint64(1); i <= 50; i++ {
		want := fmt.Sprintf("old-%d", i)
		if i > 30 {
			want = fmt.Sprintf("new-%d", i)
		}
		var l raft.Log
		if err := ls.GetLog(i, &l); err != nil || string(l.Data) != want {
			t.Fatalf("after restart entry %d: %q %v, want %q", i, l.Data, err, want)
		}
	}
	if err := ls.DeleteRange(1, 20); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := ls.GetLog(20, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("compacted entry 20: %v, want ErrLogNotFound", err)
	}
	ls.Close()
	ls = openLS(t, dir, LogStoreWAL)
	defer ls.Close()
	if first, err := ls.FirstIndex(); err != nil || first != 21 {
		t.Fatalf("first index after restart %d %v", first, err)
	}
}

// A data directory whose log another holder has open is refused within
// the timeout instead of waited on (raft-wal alone waits forever); bolt
// does the same with its own timeout.
func TestLogStoreInUseIsRefused(t *testing.T) {
	for _, backend := range []string{LogStoreWAL, LogStoreBoltDB} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			ls := openLS(t, dir, backend)
			defer ls.Close()
			done := make(chan error, 1)
			go func() {
				_, err := openLogStore(dir, backend, logStoreOptions{}, quietLog)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("a second open of a log in use succeeded")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("a second open of a log in use still waits after 30 s")
			}
		})
	}
}

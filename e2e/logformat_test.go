package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// TestUnknownLogEntryStopsServer commits a log entry of a command type this
// version does not know (as a later version would write it) to a stopped
// server's log, and starts the server again: it must refuse to apply it,
// name the entry's type and index, and exit non-zero, rather than skip it
// and serve a state that its upgraded peers do not have. The server keeps
// its log in bolt here so that the test can write into it with
// raft-boltdb; what it checks (the state machine's refusal) does not
// depend on the log store.
func TestUnknownLogEntryStopsServer(t *testing.T) {
	e := newEnv(t)
	s := e.startDC("dc1", "s", 1, "-hcl", `raft_logstore { backend = "boltdb" }`)[0]
	e.waitLeader(30*time.Second, "", s)
	if err := putKV(s, "before", "1"); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	dataDir := s.Args[slices.Index(s.Args, "-data-dir")+1]
	index := appendFutureEntry(t, filepath.Join(dataDir, "raft", "raft.db"))

	s.start()
	s.mu.Lock()
	s.wantDown = true
	exited := s.exited
	s.mu.Unlock()
	s.waitExit(exited, 30*time.Second, "an unknown log entry")
	if s.ExitErr() == nil {
		t.Fatal("server exited with status 0 after an entry it cannot apply")
	}
	log := s.LogTail(logTailLines)
	want := fmt.Sprintf("log entry %d has command type 100", index)
	if !strings.Contains(log, want) {
		t.Fatalf("log does not say %q:\n%s", want, log)
	}
}

// appendFutureEntry appends a committed-to-be entry of command type 100 to
// a Raft log in the last entry's term and returns its index.
func appendFutureEntry(t *testing.T, path string) uint64 {
	t.Helper()
	logs, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var prev raft.Log
	if err := logs.GetLog(last, &prev); err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(&pb.Command{NowUnixNano: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	data = protowire.AppendTag(data, 100, protowire.BytesType)
	data = protowire.AppendBytes(data, []byte("from a later version"))
	entry := &raft.Log{Index: last + 1, Term: prev.Term, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
	if err := logs.StoreLog(entry); err != nil {
		t.Fatal(err)
	}
	return entry.Index
}

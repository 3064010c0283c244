package store

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// Fuzz targets of the state store. Run one with
//
//	go test -run '^$' -fuzz '^FuzzApply$' -fuzztime 2m -parallel 1 ./store
//
// The seeds below are also committed under testdata/fuzz/<Target>/, so a
// plain `go test ./store` replays them; -write-fuzz-seeds rewrites those
// files from this source.

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite testdata/fuzz/<Target>/seed-* from the seeds in fuzz_test.go")

// fuzzNow is the leader clock of the base state's commands.
const fuzzNow = int64(1000 * time.Second)

func cmdAt(now int64, c *pb.Command) *pb.Command {
	c.NowUnixNano = now
	return c
}

func kvCmd(verb pb.KVVerb, e *pb.KVEntry) *pb.Command {
	return &pb.Command{NowUnixNano: fuzzNow + int64(time.Second), Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: verb, Entry: e}}}
}

func txnCmd(ops ...*pb.KVOp) *pb.Command {
	tops := make([]*pb.TxnOp, len(ops))
	for i, op := range ops {
		tops[i] = &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: op}}
	}
	return &pb.Command{NowUnixNano: fuzzNow + int64(time.Second), Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: tops}}}
}

func regCmd(req *pb.CatalogRegister) *pb.Command {
	return &pb.Command{NowUnixNano: fuzzNow, Cmd: &pb.Command_Register{Register: req}}
}

func sessCmd(s *pb.Session) *pb.Command {
	return &pb.Command{NowUnixNano: fuzzNow, Cmd: &pb.Command_SessionCreate{SessionCreate: &pb.SessionCreate{Session: s}}}
}

// fuzzBaseCommands build the state every FuzzApply and FuzzRestore input
// starts from: two nodes with services and node and service checks, a TTL
// session bound to checks, a delete-behavior session, keys (one held by
// each session), a tombstone and a lock-delay.
func fuzzBaseCommands() []*pb.Command {
	sec := int64(time.Second)
	return []*pb.Command{
		regCmd(&pb.CatalogRegister{
			Node:    &pb.Node{Node: "n1", Address: "10.0.0.1", Meta: map[string]string{"rack": "r1"}},
			Service: &pb.Service{Id: "web1", Service: "web", Tags: []string{"v1"}, Port: 80},
			Checks: []*pb.HealthCheck{
				{CheckId: SerfCheckID, Status: HealthPassing},
				{CheckId: "service:web1", ServiceId: "web1", Status: HealthPassing},
			},
		}),
		regCmd(&pb.CatalogRegister{
			Node:    &pb.Node{Node: "N2", Address: "10.0.0.2"},
			Service: &pb.Service{Id: "db", Service: "db", Tags: []string{"primary"}, Port: 5432},
			Checks: []*pb.HealthCheck{
				{CheckId: SerfCheckID, Status: HealthPassing},
				{CheckId: "mem", Status: HealthWarning},
				{CheckId: "service:db", ServiceId: "db", Status: HealthPassing},
			},
		}),
		sessCmd(&pb.Session{Id: "s-ttl", Node: "n1", NodeChecks: []string{SerfCheckID}, ServiceChecks: []string{"service:web1"},
			LockDelayNanos: 15 * sec, TtlNanos: 30 * sec}),
		sessCmd(&pb.Session{Id: "s-del", Node: "n2", NodeChecks: []string{"mem"}, Behavior: SessionDelete}),
		sessCmd(&pb.Session{Id: "s-tmp", Node: "n1", LockDelayNanos: 10 * sec}),
		kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Key: "a", Value: []byte("1")}),
		kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Key: "dir/b", Value: []byte("2"), Flags: 7}),
		kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Key: "dir/c", Value: []byte("3")}),
		kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Key: "gone", Value: []byte("x")}),
		kvCmd(pb.KVVerb_KV_DELETE, &pb.KVEntry{Key: "gone"}),
		kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/leader", Value: []byte("me"), Session: "s-ttl"}),
		kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/eph", Session: "s-del"}),
		kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/old", Session: "s-tmp"}),
		cmdAt(fuzzNow+2*sec, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "s-tmp"}}}),
		coordCmd(&pb.CoordinateEntry{Node: "n1", Coord: fuzzCoord(0.001)}, &pb.CoordinateEntry{Node: "n2", Coord: fuzzCoord(0.002)}),
	}
}

func fuzzCoord(x float64) *pb.Coordinate {
	return &pb.Coordinate{Vec: []float64{x, 0, 0, 0, 0, 0, 0, 0}, Error: 1.5, Height: 1e-5}
}

func coordCmd(updates ...*pb.CoordinateEntry) *pb.Command {
	return &pb.Command{IgnoreIfUnknown: true, Cmd: &pb.Command_CoordinateUpdate{CoordinateUpdate: &pb.CoordinateBatchUpdate{Updates: updates}}}
}

// fuzzApplySeeds are commands of every case, valid and not, against the
// base state.
func fuzzApplySeeds() map[string]*pb.Command {
	sec := int64(time.Second)
	return map[string]*pb.Command{
		"kv-set":             kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Key: "new", Value: []byte("v"), Flags: 1}),
		"kv-set-same":        kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Key: "a", Value: []byte("1")}),
		"kv-set-empty-key":   kvCmd(pb.KVVerb_KV_SET, &pb.KVEntry{Value: []byte("v")}),
		"kv-no-entry":        {Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET}}},
		"kv-cas-create":      kvCmd(pb.KVVerb_KV_CAS, &pb.KVEntry{Key: "fresh", Value: []byte("v")}),
		"kv-cas-stale":       kvCmd(pb.KVVerb_KV_CAS, &pb.KVEntry{Key: "a", Value: []byte("v"), ModifyIndex: 999}),
		"kv-cas-match":       kvCmd(pb.KVVerb_KV_CAS, &pb.KVEntry{Key: "a", Value: []byte("v"), ModifyIndex: 6}),
		"kv-delete":          kvCmd(pb.KVVerb_KV_DELETE, &pb.KVEntry{Key: "a"}),
		"kv-delete-tree":     kvCmd(pb.KVVerb_KV_DELETE_TREE, &pb.KVEntry{Key: "dir/"}),
		"kv-delete-all":      kvCmd(pb.KVVerb_KV_DELETE_TREE, &pb.KVEntry{}),
		"kv-delete-cas":      kvCmd(pb.KVVerb_KV_DELETE_CAS, &pb.KVEntry{Key: "dir/b", ModifyIndex: 7}),
		"kv-lock-free":       kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/new", Value: []byte("x"), Session: "s-del"}),
		"kv-lock-held":       kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/leader", Session: "s-del"}),
		"kv-lock-delayed":    kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/old", Session: "S-TTL"}),
		"kv-lock-no-session": kvCmd(pb.KVVerb_KV_LOCK, &pb.KVEntry{Key: "locks/x", Session: "ghost"}),
		"kv-unlock":          kvCmd(pb.KVVerb_KV_UNLOCK, &pb.KVEntry{Key: "locks/leader", Value: []byte("bye"), Session: "s-ttl"}),
		"kv-get-verb":        kvCmd(pb.KVVerb_KV_GET, &pb.KVEntry{Key: "a"}),
		"kv-unknown-verb":    kvCmd(pb.KVVerb(99), &pb.KVEntry{Key: "a"}),
		"txn-ok": txnCmd(
			&pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "t/1", Value: []byte("1")}},
			&pb.KVOp{Verb: pb.KVVerb_KV_GET_TREE, Entry: &pb.KVEntry{Key: "dir/"}},
			&pb.KVOp{Verb: pb.KVVerb_KV_CHECK_INDEX, Entry: &pb.KVEntry{Key: "a", ModifyIndex: 6}},
			&pb.KVOp{Verb: pb.KVVerb_KV_DELETE, Entry: &pb.KVEntry{Key: "dir/c"}},
			&pb.KVOp{Verb: pb.KVVerb_KV_LOCK, Entry: &pb.KVEntry{Key: "t/lock", Session: "s-ttl"}},
		),
		"txn-fail-first": txnCmd(&pb.KVOp{Verb: pb.KVVerb_KV_CAS, Entry: &pb.KVEntry{Key: "a", ModifyIndex: 1}}),
		"txn-fail-after-write": txnCmd(
			&pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "t/2", Value: []byte("2")}},
			&pb.KVOp{Verb: pb.KVVerb_KV_CHECK_NOT_EXISTS, Entry: &pb.KVEntry{Key: "a"}},
		),
		"txn-unlock-fail": txnCmd(&pb.KVOp{Verb: pb.KVVerb_KV_UNLOCK, Entry: &pb.KVEntry{Key: "locks/leader", Session: "s-del"}}),
		"txn-not-kv":      {Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: []*pb.TxnOp{{}}}}},
		"txn-too-many": func() *pb.Command {
			ops := make([]*pb.KVOp, MaxTxnOps+1)
			for i := range ops {
				ops[i] = &pb.KVOp{Verb: pb.KVVerb_KV_GET_OR_EMPTY, Entry: &pb.KVEntry{Key: "a"}}
			}
			return txnCmd(ops...)
		}(),
		"reap": {Cmd: &pb.Command_TombstoneReap{TombstoneReap: &pb.TombstoneReap{Index: 100}}},
		"register-new": regCmd(&pb.CatalogRegister{
			Node:    &pb.Node{Node: "n3", Address: "10.0.0.3", TaggedAddresses: map[string]string{"lan": "10.0.0.3"}},
			Service: &pb.Service{Service: "api", Tags: []string{"a", "b"}, Meta: map[string]string{"m": "1"}},
			Checks:  []*pb.HealthCheck{{CheckId: "service:api", ServiceId: "api", Status: HealthWarning}},
		}),
		"register-rename": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "N1"}, SkipNodeUpdate: true,
			Service: &pb.Service{Id: "web1", Service: "www", Tags: []string{"v2"}}}),
		"register-serf-critical": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
			Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Status: HealthCritical}}}),
		"register-mem-critical": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "n2", Address: "10.9.9.9"},
			Checks: []*pb.HealthCheck{{CheckId: "mem", Status: HealthCritical}}}),
		"register-bad-status": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
			Service: &pb.Service{Service: "x"}, Checks: []*pb.HealthCheck{{CheckId: "c", Status: "sick"}}}),
		"register-missing-service": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
			Checks: []*pb.HealthCheck{{CheckId: "c", ServiceId: "nope"}}}),
		"register-other-node": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
			Checks: []*pb.HealthCheck{{CheckId: "c", Node: "n2"}}}),
		"register-no-address": regCmd(&pb.CatalogRegister{Node: &pb.Node{Node: "n9"}}),
		"register-no-node":    regCmd(&pb.CatalogRegister{Service: &pb.Service{Service: "x"}}),
		"deregister-service":  {Cmd: &pb.Command_Deregister{Deregister: &pb.CatalogDeregister{Node: "n1", ServiceId: "web1"}}},
		"deregister-check":    {Cmd: &pb.Command_Deregister{Deregister: &pb.CatalogDeregister{Node: "N2", CheckId: "mem"}}},
		"deregister-node":     {Cmd: &pb.Command_Deregister{Deregister: &pb.CatalogDeregister{Node: "n2"}}},
		"deregister-no-node":  {Cmd: &pb.Command_Deregister{Deregister: &pb.CatalogDeregister{ServiceId: "db"}}},
		"session-create":      sessCmd(&pb.Session{Id: "s-new", Node: "N2", ServiceChecks: []string{"service:db"}, TtlNanos: 10 * sec}),
		"session-exists":      sessCmd(&pb.Session{Id: "S-TTL", Node: "n1"}),
		"session-no-node":     sessCmd(&pb.Session{Id: "s-x", Node: "ghost"}),
		"session-bad-check":   sessCmd(&pb.Session{Id: "s-x", Node: "n1", NodeChecks: []string{"nope", ""}}),
		"session-behavior":    sessCmd(&pb.Session{Id: "s-x", Node: "n1", Behavior: "explode"}),
		"session-nil":         {Cmd: &pb.Command_SessionCreate{SessionCreate: &pb.SessionCreate{}}},
		"session-renew":       cmdAt(fuzzNow+20*sec, &pb.Command{Cmd: &pb.Command_SessionRenew{SessionRenew: &pb.SessionRenew{Id: "s-ttl"}}}),
		"session-renew-gone":  {Cmd: &pb.Command_SessionRenew{SessionRenew: &pb.SessionRenew{Id: "ghost"}}},
		"session-destroy":     {Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "s-del"}}},
		"session-not-expired": cmdAt(fuzzNow+5*sec, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "s-ttl", OnlyIfExpired: true}}}),
		"session-expired":     cmdAt(fuzzNow+3600*sec, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "s-ttl", OnlyIfExpired: true}}}),
		"empty-command":       {},
		"coordinate-update": coordCmd(&pb.CoordinateEntry{Node: "N1", Coord: fuzzCoord(0.003)},
			&pb.CoordinateEntry{Node: "n3", Coord: fuzzCoord(0.004)}, &pb.CoordinateEntry{Node: "n2", Segment: "alpha", Coord: fuzzCoord(0.005)}),
		"coordinate-invalid": coordCmd(&pb.CoordinateEntry{Node: "n1", Coord: &pb.Coordinate{Vec: []float64{math.NaN()}}},
			&pb.CoordinateEntry{Node: "n2"}, &pb.CoordinateEntry{Coord: fuzzCoord(1)}),
		"coordinate-empty": coordCmd(),
	}
}

type fuzzSeed struct {
	name string
	vals []any
}

// addFuzzSeeds hands the seeds to the fuzzer and, with -write-fuzz-seeds,
// writes each as testdata/fuzz/<target>/seed-<name> in the corpus format
// of `go test` (version 1).
func addFuzzSeeds(f *testing.F, target string, seeds []fuzzSeed) {
	f.Helper()
	for _, s := range seeds {
		f.Add(s.vals...)
	}
	if !*writeFuzzSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), fuzzCorpusFile(s.vals...), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

func fuzzCorpusFile(vals ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		default:
			panic(fmt.Sprintf("fuzz seed of type %T", v))
		}
	}
	return b.Bytes()
}

func mustMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzBaseEntries are the base commands as log entries at indexes 1..n.
func fuzzBaseEntries(tb testing.TB) []Entry {
	cmds := fuzzBaseCommands()
	entries := make([]Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = Entry{Index: uint64(i + 1), Data: mustMarshal(tb, c)}
	}
	return entries
}

// fuzzBaseStore returns a store in the base state.
func fuzzBaseStore(tb testing.TB, base []Entry) *Store {
	tb.Helper()
	s, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	for i, r := range s.ApplyBatch(base) {
		if r.Err != nil || len(r.Errors) > 0 {
			tb.Fatalf("base command %d refused: %v %v", i+1, r.Err, r.Errors)
		}
	}
	return s
}

// fork returns a store that starts with s's contents and goes its own way:
// memdb's trees and the KV tree are immutable, so this costs nothing. The
// fork appends its values to a log of its own; the values it shares with s
// stay where they are.
func fork(s *Store) *Store {
	f := &Store{vlog: newValueLog("")}
	db := s.cur.Load().db.Snapshot()
	sh := newKVShared(f.vlog)
	tx := db.Txn(true)
	if err := tx.Insert(tableKVTree, &kvTreeRow{ID: kvTreeRowID, tree: kvRead(tx), sh: sh}); err != nil {
		panic(err)
	}
	tx.Commit()
	f.cur.Store(&state{db: db, abandonCh: make(chan struct{}), kvHub: sh.hub})
	return f
}

// rawSnapshot is the store's snapshot stream as WriteTo writes it.
func rawSnapshot(tb testing.TB, s *Store) []byte {
	tb.Helper()
	sn := s.Snapshot()
	defer sn.Close()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	return buf.Bytes()
}

// canonicalSnapshot is the store's snapshot re-encoded deterministically.
// WriteTo's bytes are not comparable as they are: protobuf writes map
// fields (node meta, tagged addresses) in Go's random map order.
func canonicalSnapshot(tb testing.TB, s *Store) []byte {
	tb.Helper()
	raw := rawSnapshot(tb, s)
	r := bufio.NewReader(bytes.NewReader(raw))
	det := proto.MarshalOptions{Deterministic: true}
	var out []byte
	appendMsg := func(m proto.Message) {
		b, err := det.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = protowire.AppendVarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	var hdr pb.SnapshotHeader
	if err := protodelim.UnmarshalFrom(r, &hdr); err != nil {
		tb.Fatalf("own snapshot header: %v", err)
	}
	appendMsg(&hdr)
	for {
		var rec pb.SnapshotRecord
		err := protodelim.UnmarshalFrom(r, &rec)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("own snapshot record: %v", err)
		}
		appendMsg(&rec)
	}
}

// refused reports whether the command changed nothing by its own account.
func refused(r *Result) bool { return r.Err != nil || len(r.Errors) > 0 }

// applyChecked applies one command and checks that a refused one changed
// nothing and that the store stays consistent.
func applyChecked(t *testing.T, s *Store, idx uint64, data []byte) *Result {
	t.Helper()
	before, lastBefore := fork(s), s.LastIndex()
	r := s.Apply(idx, data)
	if r == nil {
		t.Fatal("Apply returned no result")
	}
	if r.Index != idx {
		t.Fatalf("result index %d, applied at %d", r.Index, idx)
	}
	if r.Err != nil && !errors.Is(r.Err, ErrBadCommand) && !errors.Is(r.Err, ErrSessionNotFound) && !errors.Is(r.Err, ErrStopped) {
		t.Errorf("command refused with an error of no known kind: %v", r.Err)
	}
	if refused(r) {
		if last := s.LastIndex(); last != lastBefore {
			t.Fatalf("refused command (%v %v) moved LastIndex %d -> %d", r.Err, r.Errors, lastBefore, last)
		}
		if !bytes.Equal(canonicalSnapshot(t, before), canonicalSnapshot(t, s)) {
			t.Fatalf("refused command (%v %v) changed the store", r.Err, r.Errors)
		}
	}
	checkConsistent(t, s)
	return r
}

func sameResult(a, b *Result) error {
	errText := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		return err.Error()
	}
	switch {
	case a.Index != b.Index:
		return fmt.Errorf("index %d != %d", a.Index, b.Index)
	case a.OK != b.OK:
		return fmt.Errorf("ok %v != %v", a.OK, b.OK)
	case errText(a.Err) != errText(b.Err):
		return fmt.Errorf("err %q != %q", errText(a.Err), errText(b.Err))
	case len(a.Results) != len(b.Results) || len(a.Errors) != len(b.Errors):
		return fmt.Errorf("%d results %d errors != %d results %d errors", len(a.Results), len(a.Errors), len(b.Results), len(b.Errors))
	}
	for i := range a.Results {
		if !proto.Equal(a.Results[i], b.Results[i]) {
			return fmt.Errorf("result %d: %v != %v", i, a.Results[i], b.Results[i])
		}
	}
	for i := range a.Errors {
		if !proto.Equal(a.Errors[i], b.Errors[i]) {
			return fmt.Errorf("error %d: %v != %v", i, a.Errors[i], b.Errors[i])
		}
	}
	return nil
}

// checkConsistent checks the cross-table rules the store keeps: rows
// point at rows that exist, derived fields match their source, and every
// table's (and service's) index is at least the ModifyIndex of each row
// it covers, so blocking queries wake on every change.
func checkConsistent(t *testing.T, s *Store) {
	t.Helper()
	tx := s.readTxn()
	defer tx.Abort()
	index := func(table string) uint64 {
		raw, err := tx.First(tableIndex, "id", table)
		if err != nil || raw == nil {
			return 0
		}
		return raw.(*indexRow).Value
	}
	each := func(table string, fn func(raw any)) {
		it, err := tx.Get(table, "id")
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			fn(raw)
		}
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("inconsistent store: "+format, args...)
	}
	nodeIdx := map[string]uint64{} // lower-case node -> highest index a service of it must have
	each(tableNodes, func(raw any) {
		n := raw.(*pb.Node)
		if n.CreateIndex > n.ModifyIndex || n.ModifyIndex > index(tableNodes) {
			fail("node %q indexes %d/%d, table at %d", n.Node, n.CreateIndex, n.ModifyIndex, index(tableNodes))
		}
		nodeIdx[strings.ToLower(n.Node)] = n.ModifyIndex
	})
	each(tableChecks, func(raw any) {
		c := raw.(*pb.HealthCheck)
		if !ValidStatus(c.Status) {
			fail("check %s/%s has status %q", c.Node, c.CheckId, c.Status)
		}
		if n, _ := nodeFirst(tx, c.Node); n == nil {
			fail("check %s/%s on a missing node", c.Node, c.CheckId)
		}
		if c.CreateIndex > c.ModifyIndex || c.ModifyIndex > index(tableChecks) {
			fail("check %s/%s indexes %d/%d, table at %d", c.Node, c.CheckId, c.CreateIndex, c.ModifyIndex, index(tableChecks))
		}
		if c.ServiceId == "" {
			if c.ServiceName != "" || len(c.ServiceTags) > 0 {
				fail("node check %s/%s names service %q", c.Node, c.CheckId, c.ServiceName)
			}
			k := strings.ToLower(c.Node)
			nodeIdx[k] = max(nodeIdx[k], c.ModifyIndex)
			return
		}
		rawSvc, err := tx.First(tableServices, "id", c.Node, c.ServiceId)
		if err != nil || rawSvc == nil {
			fail("check %s/%s of missing service %q", c.Node, c.CheckId, c.ServiceId)
		}
		svc := rawSvc.(*pb.Service)
		if c.ServiceName != svc.Service || !equalStrings(c.ServiceTags, svc.Tags) {
			fail("check %s/%s says service %q %v, service is %q %v", c.Node, c.CheckId, c.ServiceName, c.ServiceTags, svc.Service, svc.Tags)
		}
		if si := index(serviceIndexName(svc.Service)); c.ModifyIndex > si {
			fail("check %s/%s at %d, service %q index at %d", c.Node, c.CheckId, c.ModifyIndex, svc.Service, si)
		}
	})
	each(tableServices, func(raw any) {
		svc := raw.(*pb.Service)
		if n, _ := nodeFirst(tx, svc.Node); n == nil {
			fail("service %s/%s on a missing node", svc.Node, svc.Id)
		}
		if svc.Service == "" || svc.Id == "" {
			fail("service %s/%q without a name or id (%q)", svc.Node, svc.Id, svc.Service)
		}
		si := index(serviceIndexName(svc.Service))
		if svc.CreateIndex > svc.ModifyIndex || svc.ModifyIndex > index(tableServices) || svc.ModifyIndex > si {
			fail("service %s/%s indexes %d/%d, table at %d, service index at %d", svc.Node, svc.Id, svc.CreateIndex, svc.ModifyIndex, index(tableServices), si)
		}
		if ni := nodeIdx[strings.ToLower(svc.Node)]; ni > si {
			fail("service %q index at %d, but its node %q or a node check changed at %d", svc.Service, si, svc.Node, ni)
		}
	})
	each(tableCoordinates, func(raw any) {
		c := raw.(*pb.CoordinateEntry)
		if n, _ := nodeFirst(tx, c.Node); n == nil {
			fail("coordinate of a missing node %q", c.Node)
		}
		if !ValidCoordinate(c.Coord) {
			fail("coordinate of %q is invalid: %v", c.Node, c.Coord)
		}
		if c.CreateIndex > c.ModifyIndex || c.ModifyIndex > index(tableCoordinates) {
			fail("coordinate of %q indexes %d/%d, table at %d", c.Node, c.CreateIndex, c.ModifyIndex, index(tableCoordinates))
		}
	})
	each(tableSessions, func(raw any) {
		sess := raw.(*pb.Session)
		if n, _ := nodeFirst(tx, sess.Node); n == nil {
			fail("session %q on a missing node %q", sess.Id, sess.Node)
		}
		if sess.CreateIndex > index(tableSessions) {
			fail("session %q created at %d, table at %d", sess.Id, sess.CreateIndex, index(tableSessions))
		}
		for _, id := range append(append([]string(nil), sess.NodeChecks...), sess.ServiceChecks...) {
			rawChk, err := tx.First(tableChecks, "id", sess.Node, id)
			if err != nil || rawChk == nil {
				fail("session %q bound to missing check %q", sess.Id, id)
			}
			if st := rawChk.(*pb.HealthCheck).Status; st == HealthCritical {
				fail("session %q outlived its critical check %q", sess.Id, id)
			}
			if link, err := tx.First(tableSessionChecks, "id", sess.Node, id, sess.Id); err != nil || link == nil {
				fail("session %q has no link to its check %q", sess.Id, id)
			}
		}
	})
	each(tableSessionChecks, func(raw any) {
		l := raw.(*sessionCheck)
		if sess, _ := sessionFirst(tx, l.Session); sess == nil {
			fail("check link %s/%s of missing session %q", l.Node, l.CheckID, l.Session)
		}
		if c, err := tx.First(tableChecks, "id", l.Node, l.CheckID); err != nil || c == nil {
			fail("session %q linked to missing check %s/%s", l.Session, l.Node, l.CheckID)
		}
	})
	each(tableSessionTimers, func(raw any) {
		tm := raw.(*pb.SessionTimer)
		if sess, _ := sessionFirst(tx, tm.Id); sess == nil {
			fail("timer of missing session %q", tm.Id)
		}
	})
	sessionRows := 0
	each(tableKVSessions, func(raw any) {
		r := raw.(*kvSessionRow)
		sessionRows++
		if e := kvGet(kvRead(tx), r.Key); e == nil || e.Session != r.Session {
			fail("session row %q/%q does not match the key's entry %v", r.Key, r.Session, e)
		}
	})
	held := 0
	kvRead(tx).Ascend(func(e *kvEntry) bool {
		if e.Session != "" {
			held++
		}
		if e.Key == "" {
			fail("kv entry without a key")
		}
		if e.CreateIndex > e.ModifyIndex || e.ModifyIndex > index(tableKVs) {
			fail("key %q indexes %d/%d, table at %d", e.Key, e.CreateIndex, e.ModifyIndex, index(tableKVs))
		}
		if e.Session != "" {
			if sess, _ := sessionFirst(tx, e.Session); sess == nil || sess.Id != e.Session {
				fail("key %q held by missing session %q", e.Key, e.Session)
			}
		}
		if tomb, _ := tx.First(tableTombstones, "id", e.Key); tomb != nil {
			fail("key %q both live and a tombstone", e.Key)
		}
		return true
	})
	if held != sessionRows {
		fail("%d keys held by sessions, %d session rows", held, sessionRows)
	}
	each(tableTombstones, func(raw any) {
		tb := raw.(*tombstoneRow)
		if tb.Index > index(tableTombstones) || tb.Index > index(tableKVs) {
			fail("tombstone %q at %d past the table indexes", tb.Key, tb.Index)
		}
	})
}

// FuzzApply feeds arbitrary bytes to the FSM as raft commands: first alone,
// then the three inputs as one batch. Apply must not panic; a refused
// command changes nothing (not LastIndex, not one row); the store stays
// consistent; a batch ends in the same state, with the same results, as
// its commands applied one at a time; and the state survives a snapshot
// round trip.
func FuzzApply(f *testing.F) {
	base := fuzzBaseEntries(f)
	next := uint64(len(base) + 1)
	baseStore := fuzzBaseStore(f, base)

	named := fuzzApplySeeds()
	names := slices.Sorted(maps.Keys(named))
	var seeds []fuzzSeed
	for i, name := range names {
		// Each seed pairs a command with the next two, so batches mix cases.
		a := mustMarshal(f, named[name])
		b := mustMarshal(f, named[names[(i+1)%len(names)]])
		c := mustMarshal(f, named[names[(i+2)%len(names)]])
		seeds = append(seeds, fuzzSeed{name, []any{a, b, c}})
	}
	valid := mustMarshal(f, named["txn-ok"])
	seeds = append(seeds,
		fuzzSeed{"garbage", []any{[]byte("\xff\xff\xff\xff"), []byte("not a command"), []byte{0x0a}}},
		fuzzSeed{"truncated", []any{valid[:len(valid)/2], valid[:1], []byte{}}},
		fuzzSeed{"unknown-field", []any{[]byte{0x82, 0x01, 0x00}, []byte{0x7a, 0x00}, valid}},
	)
	addFuzzSeeds(f, "FuzzApply", seeds)

	f.Fuzz(func(t *testing.T, first, second, third []byte) {
		s := fork(baseStore)
		applyChecked(t, s, next, first)
		if stopErr := s.Stopped(); stopErr != nil {
			// An entry it cannot interpret stops the store for good:
			// a valid command after it is refused and changes nothing.
			r := applyChecked(t, s, next+1, valid)
			if !errors.Is(r.Err, ErrStopped) || r.Err.Error() != stopErr.Error() {
				t.Fatalf("command after the store stopped: %v, want %v", r.Err, stopErr)
			}
			return
		}

		// A twin restored from s's snapshot: the round trip keeps every row
		// and rebuilds the derived ones.
		twin, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if err := twin.Restore(bytes.NewReader(rawSnapshot(t, s))); err != nil {
			t.Fatalf("restore of own snapshot: %v", err)
		}
		if !bytes.Equal(canonicalSnapshot(t, s), canonicalSnapshot(t, twin)) {
			t.Fatal("snapshot round trip changed the store")
		}
		checkConsistent(t, twin)

		// The batch on s, the same commands one by one on the twin.
		inputs := [][]byte{second, third, first}
		batch := make([]Entry, len(inputs))
		for i, data := range inputs {
			batch[i] = Entry{Index: next + 1 + uint64(i), Data: data}
		}
		results := s.ApplyBatch(batch)
		if len(results) != len(batch) {
			t.Fatalf("%d results for %d entries", len(results), len(batch))
		}
		for i, e := range batch {
			one := applyChecked(t, twin, e.Index, e.Data)
			if err := sameResult(results[i], one); err != nil {
				t.Fatalf("entry %d: batch and single apply differ: %v", i, err)
			}
		}
		checkConsistent(t, s)
		if !bytes.Equal(canonicalSnapshot(t, s), canonicalSnapshot(t, twin)) {
			t.Fatal("batch apply and one-by-one apply ended in different states")
		}
	})
}

// FuzzRestore feeds arbitrary bytes, and mutations of a valid snapshot
// stream, to Restore. It must not panic; a refused stream leaves the store
// as it was (and its blocking queries asleep); an accepted one replaces
// the store, wakes its blocking queries, and snapshots and restores again
// to the same contents.
func FuzzRestore(f *testing.F) {
	baseStore := fuzzBaseStore(f, fuzzBaseEntries(f))
	valid := rawSnapshot(f, baseStore)

	empty, err := New()
	if err != nil {
		f.Fatal(err)
	}
	emptySnap := rawSnapshot(f, empty)
	rec := func(r *pb.SnapshotRecord) []byte {
		var buf bytes.Buffer
		if _, err := protodelim.MarshalTo(&buf, r); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	hdr := func(v uint32) []byte {
		var buf bytes.Buffer
		if _, err := protodelim.MarshalTo(&buf, &pb.SnapshotHeader{Version: v, LastIndex: 9}); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	footer := func(n uint64) []byte {
		return rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Footer{Footer: &pb.SnapshotFooter{Records: n}}})
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	every := join(hdr(1),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Kv{Kv: &pb.KVEntry{Key: "k", Value: []byte("v"), Session: "s"}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Tombstone{Tombstone: &pb.Tombstone{Key: "t", Index: 3}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_TableIndex{TableIndex: &pb.TableIndex{Table: tableKVs, Index: 9}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Node{Node: &pb.Node{Node: "n", Address: "a"}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Service{Service: &pb.Service{Node: "n", Id: "i", Service: "svc"}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Check{Check: &pb.HealthCheck{Node: "n", CheckId: "c", Status: HealthPassing}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Session{Session: &pb.Session{Id: "s", Node: "n", NodeChecks: []string{"c"}}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_SessionTimer{SessionTimer: &pb.SessionTimer{Id: "s", TtlNanos: 1}}}),
		rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_LockDelay{LockDelay: &pb.LockDelay{Key: "k", UntilUnixNano: 5}}}),
		rec(&pb.SnapshotRecord{IgnoreIfUnknown: true, Record: &pb.SnapshotRecord_Coordinate{Coordinate: &pb.CoordinateEntry{Node: "n", Coord: &pb.Coordinate{Vec: []float64{1}}}}}),
		footer(10),
	)
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)/2] ^= 0x40
	addFuzzSeeds(f, "FuzzRestore", []fuzzSeed{
		{"base", []any{valid}},
		{"empty-store", []any{emptySnap}},
		{"every-record", []any{every}},
		{"truncated", []any{valid[:len(valid)-3]}},
		{"no-footer", []any{join(hdr(1), rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Kv{Kv: &pb.KVEntry{Key: "k"}}}))}},
		{"footer-miscount", []any{join(hdr(1), footer(2))}},
		{"bad-version", []any{join(hdr(2), footer(0))}},
		{"keyless-kv", []any{join(hdr(1), rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Kv{Kv: &pb.KVEntry{}}}), footer(1))}},
		{"check-without-status", []any{join(hdr(1), rec(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Check{Check: &pb.HealthCheck{Node: "n", CheckId: "c"}}}), footer(1))}},
		{"empty-record", []any{join(hdr(1), []byte{0x00}, footer(1))}},
		{"flipped", []any{flipped}},
		{"huge-length", []any{join(hdr(1), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})}},
		{"nothing", []any{[]byte{}}},
	})

	before := canonicalSnapshot(f, baseStore)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fork(baseStore)
		abandon := s.AbandonCh()
		err := s.Restore(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("restore error %v is not ErrBadSnapshot", err)
			}
			if after := canonicalSnapshot(t, s); !bytes.Equal(before, after) {
				t.Fatalf("refused restore (%v) changed the store", err)
			}
			select {
			case <-abandon:
				t.Fatal("refused restore woke blocking queries")
			default:
			}
			return
		}
		select {
		case <-abandon:
		default:
			t.Fatal("restore did not wake blocking queries on the old contents")
		}
		again := rawSnapshot(t, s)
		fresh, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if err := fresh.Restore(bytes.NewReader(again)); err != nil {
			t.Fatalf("restored store's own snapshot does not restore: %v", err)
		}
		if !bytes.Equal(canonicalSnapshot(t, s), canonicalSnapshot(t, fresh)) {
			t.Fatal("second round trip changed the contents")
		}
	})
}

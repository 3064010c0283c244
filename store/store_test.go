package store

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// applier feeds commands to a store at increasing indexes.
type applier struct {
	t   *testing.T
	s   *Store
	idx uint64
}

func newApplier(t *testing.T) *applier {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return &applier{t: t, s: s}
}

func (a *applier) cmd(c *pb.Command) *Result {
	a.t.Helper()
	data, err := proto.Marshal(c)
	if err != nil {
		a.t.Fatal(err)
	}
	a.idx++
	return a.s.Apply(a.idx, data)
}

func (a *applier) kv(verb pb.KVVerb, key, value string, index uint64) *Result {
	a.t.Helper()
	return a.cmd(&pb.Command{Cmd: &pb.Command_Kv{Kv: kvOp(verb, key, value, index)}})
}

func (a *applier) txn(ops ...*pb.KVOp) *Result {
	a.t.Helper()
	tops := make([]*pb.TxnOp, len(ops))
	for i, op := range ops {
		tops[i] = &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: op}}
	}
	return a.cmd(&pb.Command{Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: tops}}})
}

func kvOp(verb pb.KVVerb, key, value string, index uint64) *pb.KVOp {
	e := &pb.KVEntry{Key: key, ModifyIndex: index}
	if value != "" {
		e.Value = []byte(value)
	}
	return &pb.KVOp{Verb: verb, Entry: e}
}

func (a *applier) get(key string) *pb.KVEntry {
	a.t.Helper()
	_, e, err := a.s.KVGet(nil, key)
	if err != nil {
		a.t.Fatal(err)
	}
	return e
}

func (a *applier) mustValue(key, want string) {
	a.t.Helper()
	e := a.get(key)
	if e == nil {
		a.t.Fatalf("%s: missing, want %q", key, want)
	}
	if string(e.Value) != want {
		a.t.Fatalf("%s = %q, want %q", key, e.Value, want)
	}
}

func (a *applier) mustMissing(key string) {
	a.t.Helper()
	if e := a.get(key); e != nil {
		a.t.Fatalf("%s exists (%q), want missing", key, e.Value)
	}
}

func TestKVSetKeepsCreateIndexAndSkipsNoops(t *testing.T) {
	a := newApplier(t)
	if r := a.kv(pb.KVVerb_KV_SET, "a", "1", 0); !r.OK || r.Err != nil {
		t.Fatalf("set: %+v", r)
	}
	a.kv(pb.KVVerb_KV_SET, "a", "2", 0)
	e := a.get("a")
	if e.CreateIndex != 1 || e.ModifyIndex != 2 || string(e.Value) != "2" {
		t.Fatalf("after update: %+v", e)
	}
	a.kv(pb.KVVerb_KV_SET, "a", "2", 0) // same value: no change
	if e := a.get("a"); e.ModifyIndex != 2 {
		t.Fatalf("no-op set bumped ModifyIndex to %d", e.ModifyIndex)
	}
	if idx := a.s.TableIndex(nil, tableKVs); idx != 2 {
		t.Fatalf("table index %d after no-op, want 2", idx)
	}
}

func TestKVCAS(t *testing.T) {
	a := newApplier(t)
	cases := []struct {
		name  string
		index uint64
		value string
		ok    bool
	}{
		{"create-only on missing key", 0, "v1", true},
		{"create-only on existing key", 0, "v2", false},
		{"wrong index", 7, "v3", false},
		{"right index", 1, "v4", true},
		{"stale index", 1, "v5", false},
	}
	for _, c := range cases {
		r := a.kv(pb.KVVerb_KV_CAS, "k", c.value, c.index)
		if r.Err != nil || r.OK != c.ok {
			t.Fatalf("%s: ok=%v err=%v, want ok=%v", c.name, r.OK, r.Err, c.ok)
		}
	}
	a.mustValue("k", "v4")
	if r := a.kv(pb.KVVerb_KV_CAS, "missing", "x", 3); r.OK {
		t.Fatal("cas with index on a missing key succeeded")
	}
}

func TestKVDeleteVariants(t *testing.T) {
	a := newApplier(t)
	for _, k := range []string{"app/a", "app/b", "app/c/d", "other"} {
		a.kv(pb.KVVerb_KV_SET, k, "v", 0)
	}
	a.kv(pb.KVVerb_KV_DELETE, "app/a", "", 0)
	a.mustMissing("app/a")
	if r := a.kv(pb.KVVerb_KV_DELETE, "never", "", 0); !r.OK || r.Err != nil {
		t.Fatalf("deleting a missing key: %+v", r)
	}
	if r := a.kv(pb.KVVerb_KV_DELETE_CAS, "app/b", "", 99); r.OK {
		t.Fatal("delete-cas with a wrong index deleted")
	}
	if r := a.kv(pb.KVVerb_KV_DELETE_CAS, "app/b", "", 0); r.OK {
		t.Fatal("delete-cas with index 0 deleted")
	}
	a.mustValue("app/b", "v")
	if r := a.kv(pb.KVVerb_KV_DELETE_CAS, "app/b", "", a.get("app/b").ModifyIndex); !r.OK {
		t.Fatal("delete-cas with the right index failed")
	}
	a.mustMissing("app/b")
	a.kv(pb.KVVerb_KV_DELETE_TREE, "app/", "", 0)
	a.mustMissing("app/c/d")
	a.mustValue("other", "v")
	if n := a.s.TombstoneCount(); n != 3 {
		t.Fatalf("tombstones = %d, want 3", n)
	}
}

func TestKVListAndKeys(t *testing.T) {
	a := newApplier(t)
	for _, k := range []string{"web/b", "web/a", "web/sub/x", "web/sub/y", "webby", "db/1"} {
		a.kv(pb.KVVerb_KV_SET, k, "v", 0)
	}
	_, list, err := a.s.KVList(nil, "web/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Key)
	}
	if want := []string{"web/a", "web/b", "web/sub/x", "web/sub/y"}; !equal(got, want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	cases := []struct {
		prefix, sep string
		want        []string
	}{
		{"web/", "/", []string{"web/a", "web/b", "web/sub/"}},
		{"web", "/", []string{"web/", "webby"}},
		{"", "/", []string{"db/", "web/", "webby"}},
		{"web/", "", []string{"web/a", "web/b", "web/sub/x", "web/sub/y"}},
		{"nothing", "/", []string{}},
	}
	for _, c := range cases {
		_, keys, err := a.s.KVKeys(nil, c.prefix, c.sep)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(keys, c.want) {
			t.Fatalf("keys(%q,%q) = %v, want %v", c.prefix, c.sep, keys, c.want)
		}
	}
}

func TestKVIndexRules(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "p/a", "1", 0) // 1
	a.kv(pb.KVVerb_KV_SET, "q/a", "1", 0) // 2
	if idx, _, _ := a.s.KVGet(nil, "p/a"); idx != 1 {
		t.Fatalf("present key index = %d, want its ModifyIndex 1", idx)
	}
	if idx, _, _ := a.s.KVGet(nil, "nope"); idx != 2 {
		t.Fatalf("missing key index = %d, want table index 2", idx)
	}
	if idx, _, _ := a.s.KVList(nil, "p/"); idx != 1 {
		t.Fatalf("list index = %d, want 1", idx)
	}
	a.kv(pb.KVVerb_KV_SET, "p/b", "1", 0)   // 3
	a.kv(pb.KVVerb_KV_DELETE, "p/b", "", 0) // 4
	if idx, _, _ := a.s.KVList(nil, "p/"); idx != 4 {
		t.Fatalf("list index after delete = %d, want tombstone's 4", idx)
	}
	a.cmd(&pb.Command{Cmd: &pb.Command_TombstoneReap{TombstoneReap: &pb.TombstoneReap{Index: 4}}})
	if n := a.s.TombstoneCount(); n != 0 {
		t.Fatalf("tombstones after reap = %d", n)
	}
	if idx, _, _ := a.s.KVList(nil, "p/"); idx != 1 {
		t.Fatalf("list index after reap = %d, want 1 (goes back, as Consul)", idx)
	}
	if idx, _, _ := a.s.KVList(nil, "empty/"); idx != 4 {
		t.Fatalf("empty list index = %d, want table index 4", idx)
	}
}

func TestTxnCommitsAllOrNothing(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "x", "old", 0) // 1
	r := a.txn(
		kvOp(pb.KVVerb_KV_SET, "a", "1", 0),
		kvOp(pb.KVVerb_KV_CAS, "x", "new", 1),
		kvOp(pb.KVVerb_KV_GET, "x", "", 0),
		kvOp(pb.KVVerb_KV_DELETE, "zz", "", 0),
	)
	if r.Err != nil || len(r.Errors) != 0 {
		t.Fatalf("txn: %v %v", r.Err, r.Errors)
	}
	if len(r.Results) != 3 {
		t.Fatalf("results = %d, want 3 (delete reports nothing)", len(r.Results))
	}
	if v := r.Results[2].GetKv().Value; string(v) != "new" {
		t.Fatalf("get result value %q", v)
	}
	if v := r.Results[0].GetKv().Value; v != nil {
		t.Fatalf("set result carries a value %q", v)
	}
	// Second op fails: the first must not stick.
	r = a.txn(
		kvOp(pb.KVVerb_KV_SET, "b", "1", 0),
		kvOp(pb.KVVerb_KV_DELETE, "a", "", 0),
		kvOp(pb.KVVerb_KV_CHECK_INDEX, "x", "", 1),
	)
	if len(r.Errors) != 1 || r.Errors[0].OpIndex != 2 {
		t.Fatalf("errors = %v", r.Errors)
	}
	if want := `failed index check for key "x", current modify index 2 != 1`; r.Errors[0].What != want {
		t.Fatalf("what = %q, want %q", r.Errors[0].What, want)
	}
	a.mustMissing("b")
	a.mustValue("a", "1")
}

func TestTxnVerbErrors(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "k", "v", 0)
	cases := []struct {
		op   *pb.KVOp
		want string
	}{
		{kvOp(pb.KVVerb_KV_GET, "missing", "", 0), `key "missing" doesn't exist`},
		{kvOp(pb.KVVerb_KV_CHECK_NOT_EXISTS, "k", "", 0), `key "k" exists`},
		{kvOp(pb.KVVerb_KV_CHECK_INDEX, "missing", "", 1), `failed to check index, key "missing" doesn't exist`},
		{&pb.KVOp{Verb: pb.KVVerb_KV_CHECK_SESSION, Entry: &pb.KVEntry{Key: "k", Session: "s1"}}, `failed session check for key "k", current session "" != "s1"`},
		{kvOp(pb.KVVerb_KV_CAS, "k", "x", 99), `failed to set key "k", index is stale`},
		{kvOp(pb.KVVerb_KV_DELETE_CAS, "k", "", 99), `failed to delete key "k", index is stale`},
	}
	for _, c := range cases {
		r := a.txn(c.op)
		if len(r.Errors) != 1 || r.Errors[0].What != c.want {
			t.Errorf("%s: errors %v, want %q", c.op.Verb, r.Errors, c.want)
		}
	}
	// get-or-empty and check-not-exists on a missing key succeed.
	if r := a.txn(kvOp(pb.KVVerb_KV_GET_OR_EMPTY, "missing", "", 0), kvOp(pb.KVVerb_KV_CHECK_NOT_EXISTS, "missing", "", 0)); len(r.Errors) != 0 || len(r.Results) != 0 {
		t.Fatalf("get-or-empty/check-not-exists: %+v", r)
	}
	if r := a.txn(kvOp(pb.KVVerb_KV_GET_TREE, "", "", 0)); len(r.Results) != 1 {
		t.Fatalf("get-tree results %d", len(r.Results))
	}
}

func TestTxnReadOnly(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "k", "v", 0)
	ops := []*pb.TxnOp{{Op: &pb.TxnOp_Kv{Kv: kvOp(pb.KVVerb_KV_GET, "k", "", 0)}}}
	if !TxnIsReadOnly(ops) {
		t.Fatal("get-only txn not read-only")
	}
	idx, res, errs := a.s.TxnRead(ops)
	if idx != 1 || len(errs) != 0 || string(res[0].GetKv().Value) != "v" {
		t.Fatalf("TxnRead = %d %v %v", idx, res, errs)
	}
	if TxnIsReadOnly(append(ops, &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: kvOp(pb.KVVerb_KV_SET, "k", "x", 0)}})) {
		t.Fatal("txn with a set counted read-only")
	}
}

func TestApplyBatchIsolatesFailedTxn(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(c *pb.Command) []byte {
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	set := func(k string) []byte {
		return mk(&pb.Command{Cmd: &pb.Command_Kv{Kv: kvOp(pb.KVVerb_KV_SET, k, "v", 0)}})
	}
	badTxn := mk(&pb.Command{Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: []*pb.TxnOp{
		{Op: &pb.TxnOp_Kv{Kv: kvOp(pb.KVVerb_KV_SET, "t1", "v", 0)}},
		{Op: &pb.TxnOp_Kv{Kv: kvOp(pb.KVVerb_KV_CHECK_NOT_EXISTS, "a", "", 0)}},
	}}}})
	res := s.ApplyBatch([]Entry{{1, set("a")}, {2, badTxn}, {3, set("b")}, {4, []byte{0xff, 0xff}}})
	if res[0].Err != nil || res[2].Err != nil || len(res[1].Errors) != 1 {
		t.Fatalf("results: %+v %+v %+v", res[0], res[1], res[2])
	}
	if !errors.Is(res[3].Err, ErrStopped) {
		t.Fatalf("garbage entry: %v", res[3].Err)
	}
	for k, want := range map[string]bool{"a": true, "b": true, "t1": false} {
		_, e, _ := s.KVGet(nil, k)
		if (e != nil) != want {
			t.Fatalf("%s present=%v, want %v", k, e != nil, want)
		}
	}
	if _, e, _ := s.KVGet(nil, "b"); e.ModifyIndex != 3 {
		t.Fatalf("b ModifyIndex %d, want its own log index 3", e.ModifyIndex)
	}
}

func TestUnknownCommandRefused(t *testing.T) {
	a := newApplier(t)
	if r := a.kv(pb.KVVerb_KV_GET, "k", "", 0); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("read verb as a command: %v", r.Err)
	}
	if r := a.kv(pb.KVVerb_KV_SET, "", "v", 0); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("empty key: %v", r.Err)
	}
	if n := a.s.LastIndex(); n != 0 {
		t.Fatalf("refused commands changed the store: index %d", n)
	}
}

// fired reports whether any channel of ws is closed, without waiting. The
// store closes a read's watch channels inside the Apply that changes what
// it read, so right after Apply returns the answer is exact: a watch that
// should fire has, and one that has not never will for that write.
func fired(ws memdb.WatchSet) bool {
	for ch := range ws {
		select {
		case <-ch:
			return true
		default:
		}
	}
	return false
}

func TestBlockingWakesOnSetAndDelete(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "dir/a", "1", 0)

	ws := memdb.NewWatchSet()
	a.s.KVGet(ws, "dir/a")
	a.kv(pb.KVVerb_KV_SET, "dir/a", "2", 0)
	if !fired(ws) {
		t.Fatal("get watch did not fire on set")
	}

	ws = memdb.NewWatchSet()
	a.s.KVList(ws, "dir/")
	a.kv(pb.KVVerb_KV_DELETE, "dir/a", "", 0)
	if !fired(ws) {
		t.Fatal("list watch did not fire on delete")
	}

	ws = memdb.NewWatchSet()
	a.s.KVGet(ws, "later")
	a.kv(pb.KVVerb_KV_SET, "later", "x", 0)
	if !fired(ws) {
		t.Fatal("watch on a missing key did not fire when it was created")
	}

	// A write elsewhere does not wake a watch on an unrelated prefix's rows
	// (the index table watch may fire; the rows' own must not).
	a.kv(pb.KVVerb_KV_SET, "dir/b", "1", 0)
	ws = memdb.NewWatchSet()
	a.s.cur.Load().kvHub.watchPrefix(ws, "dir/")
	a.kv(pb.KVVerb_KV_SET, "elsewhere", "x", 0)
	if fired(ws) {
		t.Fatal("prefix watch fired on an unrelated write")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "a", "1", 0)
	a.cmd(&pb.Command{Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "bin", Value: []byte{0, 1, 2, 255}, Flags: 42}}}})
	a.kv(pb.KVVerb_KV_SET, "gone", "x", 0)
	a.kv(pb.KVVerb_KV_DELETE, "gone", "", 0)

	snap := a.s.Snapshot()
	a.kv(pb.KVVerb_KV_SET, "after", "x", 0) // not in the snapshot
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	if snap.Index() != 4 {
		t.Fatalf("snapshot index %d, want 4", snap.Index())
	}

	b := newApplier(t)
	abandon := b.s.AbandonCh()
	if err := b.s.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-abandon:
	default:
		t.Fatal("restore did not abandon the old state")
	}
	b.mustValue("a", "1")
	if e := b.get("bin"); !bytes.Equal(e.Value, []byte{0, 1, 2, 255}) || e.Flags != 42 || e.CreateIndex != 2 {
		t.Fatalf("bin = %+v", e)
	}
	b.mustMissing("after")
	if b.s.TombstoneCount() != 1 || b.s.LastIndex() != 4 {
		t.Fatalf("tombstones %d, last index %d", b.s.TombstoneCount(), b.s.LastIndex())
	}
}

func TestRestoreRejectsCorruptSnapshot(t *testing.T) {
	a := newApplier(t)
	for _, k := range []string{"a", "b", "c"} {
		a.kv(pb.KVVerb_KV_SET, k, "value-"+k, 0)
	}
	snap := a.s.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	good := buf.Bytes()

	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	cases := map[string][]byte{
		"empty":          {},
		"truncated":      good[:len(good)-5],
		"no footer":      good[:len(good)-4],
		"garbage":        []byte("not a snapshot at all"),
		"header only":    good[:3],
		"flipped middle": flipped,
	}
	for name, data := range cases {
		b := newApplier(t)
		b.kv(pb.KVVerb_KV_SET, "keep", "me", 0)
		err := b.s.Restore(bytes.NewReader(data))
		if name == "flipped middle" && err == nil {
			// A flip may land inside a value and still decode; then the
			// restore must at least be whole.
			continue
		}
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("%s: err = %v, want ErrBadSnapshot", name, err)
		}
		b.mustValue("keep", "me")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func roundTrip(t *testing.T, from, to *Store) {
	t.Helper()
	snap := from.Snapshot()
	defer snap.Close()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := to.Restore(&buf); err != nil {
		t.Fatal(err)
	}
}

func TestCommandBatchAppliesEachAlone(t *testing.T) {
	a := newApplier(t)
	set := func(k string) *pb.Command {
		return &pb.Command{Cmd: &pb.Command_Kv{Kv: kvOp(pb.KVVerb_KV_SET, k, "v", 0)}}
	}
	badTxn := &pb.Command{Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: []*pb.TxnOp{
		{Op: &pb.TxnOp_Kv{Kv: kvOp(pb.KVVerb_KV_SET, "t1", "v", 0)}},
		{Op: &pb.TxnOp_Kv{Kv: kvOp(pb.KVVerb_KV_CHECK_NOT_EXISTS, "a", "", 0)}},
	}}}}
	nested := &pb.Command{Cmd: &pb.Command_Batch{Batch: &pb.CommandBatch{}}}
	r := a.cmd(&pb.Command{Cmd: &pb.Command_Batch{Batch: &pb.CommandBatch{Commands: []*pb.Command{set("a"), badTxn, set("b"), nested}}}})
	if r.Err != nil || len(r.Batch) != 4 {
		t.Fatalf("batch result: %+v", r)
	}
	if r.Batch[0].Err != nil || !r.Batch[0].OK || len(r.Batch[1].Errors) != 1 || !r.Batch[2].OK || !errors.Is(r.Batch[3].Err, ErrBadCommand) {
		t.Fatalf("sub-results: %+v %+v %+v %+v", r.Batch[0], r.Batch[1], r.Batch[2], r.Batch[3])
	}
	a.mustValue("a", "v")
	a.mustValue("b", "v")
	a.mustMissing("t1")
	if a.get("a").ModifyIndex != a.get("b").ModifyIndex {
		t.Fatal("commands of one batch got different indexes")
	}
}

// TestWaitIndex runs in a synctest bubble, so "still waiting" is exact:
// synctest.Wait returns once the waiter is durably blocked, and a
// non-blocking receive then tells whether it returned.
func TestWaitIndex(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		a := newApplier(t)
		if err := a.s.WaitIndex(context.Background(), 0); err != nil {
			t.Fatalf("index 0 is always reached: %v", err)
		}
		// Each write changes the key: an unchanged write moves no index.
		for i := range 4 {
			a.kv(pb.KVVerb_KV_SET, "k", strconv.Itoa(i), 0)
		}
		if err := a.s.WaitIndex(context.Background(), 4); err != nil {
			t.Fatalf("index 4 reached at index 4: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- a.s.WaitIndex(context.Background(), 6) }()
		returned := func() (error, bool) {
			synctest.Wait()
			select {
			case err := <-done:
				return err, true
			default:
				return nil, false
			}
		}
		if err, ok := returned(); ok {
			t.Fatalf("returned (%v) at index 4, waiting for 6", err)
		}
		// A change below the index wakes the waiter, which waits again.
		a.kv(pb.KVVerb_KV_SET, "k", "w", 0)
		if err, ok := returned(); ok {
			t.Fatalf("returned (%v) at index 5, waiting for 6", err)
		}
		a.kv(pb.KVVerb_KV_DELETE, "k", "", 0)
		if err, ok := returned(); !ok || err != nil {
			t.Fatalf("at index 6: returned %v, err %v; want nil", ok, err)
		}

		// A restore to a later index releases a waiter too.
		snapSrc := newApplier(t)
		for i := range 9 {
			snapSrc.kv(pb.KVVerb_KV_SET, "r", strconv.Itoa(i), 0)
		}
		var buf bytes.Buffer
		snap := snapSrc.s.Snapshot()
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		snap.Close()
		go func() { done <- a.s.WaitIndex(context.Background(), 8) }()
		if err, ok := returned(); ok {
			t.Fatalf("returned (%v) at index 6, waiting for 8", err)
		}
		if err := a.s.Restore(&buf); err != nil {
			t.Fatal(err)
		}
		if err, ok := returned(); !ok || err != nil {
			t.Fatalf("after a restore to index 9: returned %v, err %v; want nil", ok, err)
		}

		// Cancelling the context ends a wait for an index never applied.
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- a.s.WaitIndex(ctx, 100) }()
		if err, ok := returned(); ok {
			t.Fatalf("returned (%v) before its context ended", err)
		}
		cancel()
		if err, ok := returned(); !ok || !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: returned %v, err %v; want context.Canceled", ok, err)
		}
	})
}

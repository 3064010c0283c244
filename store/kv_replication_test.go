package store

import (
	"bytes"
	"errors"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

func changeKeys(entries []*pb.KVEntry, deleted []*pb.Tombstone) (sets, dels []string) {
	for _, e := range entries {
		sets = append(sets, e.Key)
	}
	for _, d := range deleted {
		dels = append(dels, d.Key)
	}
	return sets, dels
}

// KVChanges lists what changed under the prefixes after an index, in
// index order, deletes included, excluded keys left out; once tombstones
// after that index are reaped it asks for a full copy instead.
func TestKVChanges(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "app/b", "1", 0)       // 1
	a.kv(pb.KVVerb_KV_SET, "app/a", "1", 0)       // 2
	a.kv(pb.KVVerb_KV_SET, "app/secret/x", "", 0) // 3
	a.kv(pb.KVVerb_KV_SET, "other/x", "1", 0)     // 4
	a.kv(pb.KVVerb_KV_SET, "app/b", "2", 0)       // 5
	a.kv(pb.KVVerb_KV_DELETE, "app/a", "", 0)     // 6
	a.kv(pb.KVVerb_KV_SET, "app/c", "1", 0)       // 7
	prefixes, exclude := []string{"app/"}, []string{"app/secret/"}

	entries, deleted, idx, full, err := a.s.KVChanges(nil, prefixes, exclude, 0)
	sets, dels := changeKeys(entries, deleted)
	if err != nil || !full || idx != 7 || !equalStrings(sets, []string{"app/b", "app/c"}) || len(dels) != 0 {
		t.Fatalf("from 0: %v %v idx %d full %v %v", sets, dels, idx, full, err)
	}
	entries, deleted, idx, full, err = a.s.KVChanges(nil, prefixes, exclude, 4)
	sets, dels = changeKeys(entries, deleted)
	if err != nil || full || idx != 7 || !equalStrings(sets, []string{"app/b", "app/c"}) || !equalStrings(dels, []string{"app/a"}) || deleted[0].Index != 6 {
		t.Fatalf("from 4: %v %v idx %d full %v %v", sets, dels, idx, full, err)
	}
	ws := memdb.NewWatchSet()
	if entries, deleted, _, _, _ = a.s.KVChanges(ws, prefixes, exclude, 7); len(entries)+len(deleted) != 0 {
		t.Fatalf("from 7: %v %v", entries, deleted)
	}
	a.kv(pb.KVVerb_KV_SET, "other/y", "1", 0) // 8
	if fired(ws) {
		t.Fatal("a change outside the prefixes woke the watch")
	}
	a.kv(pb.KVVerb_KV_DELETE, "app/c", "", 0) // 9
	if !fired(ws) {
		t.Fatal("a delete under the prefix did not wake the watch")
	}
	a.cmd(&pb.Command{Cmd: &pb.Command_TombstoneReap{TombstoneReap: &pb.TombstoneReap{Index: 6}}}) // 10
	if _, _, _, full, _ = a.s.KVChanges(nil, prefixes, exclude, 5); !full {
		t.Fatal("deletes at or below a reaped index cannot be told: a full copy is needed")
	}
	if _, _, _, full, _ = a.s.KVChanges(nil, prefixes, exclude, 100); !full {
		t.Fatal("an index past the source's own: a full copy is needed")
	}
	_, deleted, _, full, _ = a.s.KVChanges(nil, prefixes, exclude, 6)
	if full || len(deleted) != 1 || deleted[0].Key != "app/c" {
		t.Fatalf("from the reaped index: full %v, deleted %v", full, deleted)
	}
}

// Replicated changes apply in order with their progress in one
// transaction, survive a snapshot, and a bad change applies nothing.
func TestKVReplicationApply(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "app/gone", "x", 0)
	apply := func(c *pb.KVReplicationApply) *Result {
		return a.cmd(&pb.Command{Cmd: &pb.Command_KvReplication{KvReplication: c}, NowUnixNano: 42})
	}
	r := apply(&pb.KVReplicationApply{SourceDatacenter: "dc1", SourceIndex: 30, Changes: []*pb.KVReplicationChange{
		{Key: "app/a", Value: []byte("1"), Flags: 7, SourceIndex: 10},
		{Key: "app/a", Value: []byte("2"), SourceIndex: 20},
		{Key: "app/gone", Delete: true, SourceIndex: 30},
	}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	a.mustValue("app/a", "2")
	a.mustMissing("app/gone")
	st := a.s.KVReplicationState("dc1")
	if st == nil || st.SourceIndex != 30 || st.Index != r.Index || st.UpdatedUnixNano != 42 {
		t.Fatalf("state %+v", st)
	}
	r = apply(&pb.KVReplicationApply{SourceDatacenter: "dc1", SourceIndex: 40, Changes: []*pb.KVReplicationChange{
		{Key: "app/b", Value: []byte("1")}, {Key: ""},
	}})
	if !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("change without a key: %v", r.Err)
	}
	a.mustMissing("app/b")
	if st := a.s.KVReplicationState("dc1"); st.SourceIndex != 30 {
		t.Fatalf("a refused command moved the progress: %+v", st)
	}
	if r := apply(&pb.KVReplicationApply{SourceIndex: 1}); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("no source: %v", r.Err)
	}

	snap := a.s.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	b := newApplier(t)
	if err := b.s.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if st := b.s.KVReplicationState("dc1"); st == nil || st.SourceIndex != 30 {
		t.Fatalf("restored state %+v", st)
	}
	if b.s.KVReplicationState("dc9") != nil {
		t.Fatal("state for a source never replicated")
	}
}

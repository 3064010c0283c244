package store

import (
	"fmt"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// TestKVWatchHub: a key's watch fires on that key only; a prefix's on any
// key under it, whatever the lengths of the prefixes watched at once; a
// fired channel leaves the hub, and an idle one stays until it fires.
func TestKVWatchHub(t *testing.T) {
	a := newApplier(t)
	hub := a.s.cur.Load().kvHub
	watch := func(key string, prefix bool) memdb.WatchSet {
		ws := memdb.NewWatchSet()
		if prefix {
			hub.watchPrefix(ws, key)
		} else {
			hub.watchKey(ws, key)
		}
		return ws
	}
	exact := watch("app/db/url", false)
	sibling := watch("app/db/user", false)
	all := watch("", true)
	app := watch("app/", true)
	db := watch("app/db/", true)
	other := watch("other/", true)
	longer := watch("app/db/url/extra", true)
	if n := hub.watched(); n != 7 {
		t.Fatalf("hub holds %d channels, want 7", n)
	}
	a.kv(pb.KVVerb_KV_SET, "app/db/url", "x", 0)
	for name, ws := range map[string]memdb.WatchSet{"exact": exact, "all": all, "app/": app, "app/db/": db} {
		if !fired(ws) {
			t.Errorf("%s watch did not fire on a write under it", name)
		}
	}
	for name, ws := range map[string]memdb.WatchSet{"sibling": sibling, "other/": other, "longer prefix": longer} {
		if fired(ws) {
			t.Errorf("%s watch fired on a write outside it", name)
		}
	}
	if n := hub.watched(); n != 3 {
		t.Fatalf("hub holds %d channels after the write, want the 3 that did not fire", n)
	}
	// A write that changes nothing wakes no one; a delete does.
	a.kv(pb.KVVerb_KV_SET, "app/db/user", "u", 0)
	if !fired(sibling) {
		t.Fatal("sibling watch did not fire on its own key")
	}
	again := watch("app/db/user", false)
	a.kv(pb.KVVerb_KV_SET, "app/db/user", "u", 0)
	if fired(again) {
		t.Fatal("a set to the same value woke its watcher")
	}
	a.kv(pb.KVVerb_KV_DELETE_TREE, "app/", "", 0)
	if !fired(again) {
		t.Fatal("delete-tree did not wake a watcher of a key it deleted")
	}
}

// TestKVWatchHubSweeps: channels of keys never written do not pile up:
// past the bound every waiter is woken (to read again and take a new
// channel) and the hub starts over, with a bound twice what it swept.
func TestKVWatchHubSweeps(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	hub := s.cur.Load().kvHub
	hub.sweepAt = 4
	var sets []memdb.WatchSet
	for i := range 4 {
		ws := memdb.NewWatchSet()
		if _, _, err := s.KVGet(ws, fmt.Sprintf("never/%d", i)); err != nil {
			t.Fatal(err)
		}
		sets = append(sets, ws)
	}
	for i, ws := range sets {
		if fired(ws) {
			t.Fatalf("watch %d fired before the bound was passed", i)
		}
	}
	fifth := memdb.NewWatchSet()
	hub.watchPrefix(fifth, "never/")
	for i, ws := range append(sets, fifth) {
		if !fired(ws) {
			t.Fatalf("watch %d not woken by the sweep", i)
		}
	}
	if n := hub.watched(); n != 0 || hub.sweepAt != minHubSweep {
		t.Fatalf("after the sweep: %d channels, bound %d; want 0 and %d", n, hub.sweepAt, minHubSweep)
	}
	hub.mu.Lock()
	for i := range minHubSweep + 1 {
		hub.keys[fmt.Sprint(i)] = make(chan struct{})
	}
	hub.mu.Unlock()
	hub.watchKey(memdb.NewWatchSet(), "one more")
	if hub.sweepAt != 2*(minHubSweep+2) {
		t.Fatalf("bound after sweeping %d channels: %d, want %d", minHubSweep+2, hub.sweepAt, 2*(minHubSweep+2))
	}
}

// TestKVAbortedTxnInvisible: a transaction that fails halfway changes
// neither the published tree nor its readers' view, and wakes no one; the
// tree a reader holds does not change under it when later writes commit.
func TestKVAbortedTxnInvisible(t *testing.T) {
	a := newApplier(t)
	a.kv(pb.KVVerb_KV_SET, "k1", "v1", 0)
	tx := a.s.readTxn()
	held := kvRead(tx)
	ws := memdb.NewWatchSet()
	a.s.KVGet(ws, "k2")
	// The second op fails (k1 is at index 1, not 99): nothing may stay.
	r := a.txn(kvOp(pb.KVVerb_KV_SET, "k2", "v2", 0), kvOp(pb.KVVerb_KV_CAS, "k1", "v9", 99))
	if len(r.Errors) == 0 {
		t.Fatalf("transaction with a stale CAS succeeded: %+v", r)
	}
	a.mustMissing("k2")
	a.mustValue("k1", "v1")
	if fired(ws) {
		t.Fatal("an aborted transaction woke a watcher of a key it wrote")
	}
	for i := range 100 {
		a.kv(pb.KVVerb_KV_SET, fmt.Sprintf("later/%03d", i), "x", 0)
	}
	a.kv(pb.KVVerb_KV_SET, "k1", "v2", 0)
	if held.Len() != 1 || kvGet(held, "k1") == nil {
		t.Fatalf("a reader's tree changed under it: %d entries, k1=%v", held.Len(), kvGet(held, "k1"))
	}
	if v, err := kvGet(held, "k1").val.read(); err != nil || string(v) != "v1" {
		t.Fatalf("a reader's k1 reads %q, %v; want v1", v, err)
	}
	tx.Abort()
	a.mustValue("k1", "v2")
}

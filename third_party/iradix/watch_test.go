package iradix

import (
	"fmt"
	"sync"
	"testing"
)

// Meridian: tests of the channels made on first use (watch.go).

func TestWatcherMadeOnlyWhenAsked(t *testing.T) {
	r := New()
	txn := r.Txn()
	txn.TrackMutate(true)
	for i := range 100 {
		txn.Insert([]byte(fmt.Sprintf("svc/%03d", i)), i)
	}
	r = txn.Commit()
	for it := r.root.rawIterator(); it.Front() != nil; it.Next() {
		n := it.Front()
		if n.mutateCh.made() || (n.leaf != nil && n.leaf.mutateCh.made()) {
			t.Fatalf("node %q has a channel nobody asked for", it.Path())
		}
	}
	// Reads that do not watch make none either.
	if v, ok := r.Get([]byte("svc/042")); !ok || v != 42 {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	iter := r.Root().Iterator()
	iter.SeekPrefix([]byte("svc/04"))
	if _, v, ok := iter.Next(); !ok || v != 40 {
		t.Fatalf("Next = %v, %v", v, ok)
	}
	w, _, _ := r.Root().GetWatcher([]byte("svc/042"))
	if w.made() {
		t.Fatal("GetWatcher made the channel")
	}
	for it := r.root.rawIterator(); it.Front() != nil; it.Next() {
		n := it.Front()
		if n.mutateCh.made() || (n.leaf != nil && n.leaf.mutateCh.made()) {
			t.Fatalf("a read made node %q's channel", it.Path())
		}
	}
	ch := w.Ch()
	if !w.made() || w.Ch() != ch {
		t.Fatal("Ch does not make the channel once")
	}
}

func TestWatchAskedBeforeAndAfterTheChange(t *testing.T) {
	r := New()
	r, _, _ = r.Insert([]byte("a/1"), 1)
	r, _, _ = r.Insert([]byte("a/2"), 2)
	old := r

	before, _, _ := old.Root().GetWatch([]byte("a/1"))
	prefixBefore := old.Root().Iterator().SeekPrefixWatch([]byte("a/"))
	lateLeaf, _, _ := old.Root().GetWatcher([]byte("a/1"))
	other, _, _ := old.Root().GetWatch([]byte("a/2"))

	txn := r.Txn()
	txn.TrackMutate(true)
	txn.Insert([]byte("a/1"), 10)
	r = txn.Commit()

	for name, ch := range map[string]<-chan struct{}{"leaf": before, "prefix": prefixBefore, "late leaf": lateLeaf.Ch()} {
		select {
		case <-ch:
		default:
			t.Errorf("%s watch not woken by the change", name)
		}
	}
	select {
	case <-other:
		t.Error("the unchanged leaf's watch woke")
	default:
	}
	// The new tree's nodes are fresh: their watches wait.
	now, v, _ := r.Root().GetWatch([]byte("a/1"))
	if v != 10 {
		t.Fatalf("a/1 = %v", v)
	}
	select {
	case <-now:
		t.Error("a watch on the new tree is already woken")
	default:
	}
}

// TestWatchRacesCommit asks for channels of the old tree while commits
// replace its nodes: every watch of a replaced leaf must end up woken.
func TestWatchRacesCommit(t *testing.T) {
	for round := range 50 {
		r := New()
		txn := r.Txn()
		for i := range 64 {
			txn.Insert([]byte(fmt.Sprintf("k/%02d", i)), i)
		}
		r = txn.Commit()
		old := r

		var wg sync.WaitGroup
		chans := make([]<-chan struct{}, 64)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 64 {
				chans[i], _, _ = old.Root().GetWatch([]byte(fmt.Sprintf("k/%02d", i)))
			}
		}()
		txn = r.Txn()
		txn.TrackMutate(true)
		for i := range 64 {
			txn.Insert([]byte(fmt.Sprintf("k/%02d", i)), i+round)
		}
		txn.Commit()
		wg.Wait()
		for i, ch := range chans {
			select {
			case <-ch:
			default:
				t.Fatalf("round %d: the watch of replaced leaf %d never woke", round, i)
			}
		}
	}
}

// TestWatchAfterOverflow: past defaultModifiedCache replaced nodes a
// transaction finds them by comparing trees (slowNotify); channels made
// before and after the commit wake alike.
func TestWatchAfterOverflow(t *testing.T) {
	r := New()
	txn := r.Txn()
	n := defaultModifiedCache + 100
	for i := range n {
		txn.Insert([]byte(fmt.Sprintf("k/%06d", i)), i)
	}
	r = txn.Commit()
	old := r
	early, _, _ := old.Root().GetWatch([]byte("k/000007"))
	late, _, _ := old.Root().GetWatcher([]byte("k/000009"))
	kept, _, _ := old.Root().GetWatch([]byte(fmt.Sprintf("k/%06d", n-1)))

	txn = r.Txn()
	txn.TrackMutate(true)
	for i := range n - 1 {
		txn.Insert([]byte(fmt.Sprintf("k/%06d", i)), -i)
	}
	txn.CommitOnly()
	if !txn.trackOverflow {
		t.Fatal("the transaction did not overflow its tracking")
	}
	txn.Notify()
	for name, ch := range map[string]<-chan struct{}{"early": early, "late": late.Ch()} {
		select {
		case <-ch:
		default:
			t.Errorf("%s watch not woken", name)
		}
	}
	select {
	case <-kept:
		t.Error("the unchanged leaf's watch woke")
	default:
	}
}

package dc

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/pb"
)

// heldLog holds a server's next Raft log write, once armed, until
// released (a disk sync that takes as long as the test wants), or fails it
// with an error.
type heldLog struct {
	mu      sync.Mutex
	armed   bool
	fail    error
	entered chan []*raft.Log // the held batch, when it arrives
	release chan struct{}
}

func (h *heldLog) arm(fail error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.fail = true, fail
	h.entered, h.release = make(chan []*raft.Log, 1), make(chan struct{})
}

// before is the log store's hook (faultnet.HookLogStore).
func (h *heldLog) before(logs []*raft.Log) error {
	h.mu.Lock()
	armed, fail, entered, release := h.armed, h.fail, h.entered, h.release
	h.armed = false
	h.mu.Unlock()
	if !armed {
		return nil
	}
	entered <- logs
	if fail != nil {
		return fail
	}
	<-release
	return nil
}

// heldCluster starts three servers on disk, each log store wrapped in a
// heldLog's hook.
func heldCluster(t *testing.T) (*testCluster, map[*testServer]*heldLog) {
	var mu sync.Mutex
	var stores []*heldLog
	wrap := func(s LogStore) LogStore {
		h := &heldLog{}
		mu.Lock()
		stores = append(stores, h)
		mu.Unlock()
		return faultnet.HookLogStore(s, h.before)
	}
	c := startCluster(t, clusterOpts{servers: 3, onDisk: true, wrapLog: wrap})
	held := map[*testServer]*heldLog{}
	for i, ts := range c.servers {
		held[ts] = stores[i]
	}
	return c, held
}

// The leader sends a new entry to its followers while it writes the entry
// itself (Raft thesis 10.2.1), instead of after: a write costs the
// slower of the two, not their sum. It still answers only once its own
// write is done. Without the change the followers see nothing while the
// leader's write is held.
func TestLeaderReplicatesWhileItWrites(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c, held := heldCluster(t)
		leader := c.waitLeader()
		synctest.Wait() // the new leader's own entries are written
		held[leader].arm(nil)

		done := make(chan error, 1)
		go func() { done <- call(leader, MethodKVApply, kvSet("k", "v"), &pb.KVApplyResponse{}) }()
		batch := <-held[leader].entered
		last := batch[len(batch)-1].Index
		synctest.Wait()
		for _, f := range c.followers(leader) {
			if got := f.raft.LastIndex(); got < last {
				t.Errorf("%s holds up to %d while the leader writes %d: not replicated before the leader's write", f.name, got, last)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("write answered (%v) while the leader's own write of it was still held", err)
		default:
		}

		close(held[leader].release)
		if err := <-done; err != nil {
			t.Fatalf("write: %v", err)
		}
		for _, ts := range c.servers {
			if got := kvValue(t, ts, "k", pb.Consistency_CONSISTENCY_DEFAULT); got != "v" {
				t.Errorf("%s reads %q, want v", ts.name, got)
			}
		}
	})
}

// A leader whose own write fails steps down although its followers may
// hold the entry already; the servers then agree on whether the write
// happened, and go on taking writes.
func TestLeaderWriteFailsAfterReplicating(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c, held := heldCluster(t)
		leader := c.waitLeader()
		synctest.Wait()
		held[leader].arm(errors.New("disk gone"))

		err := call(leader, MethodKVApply, kvSet("k", "v"), &pb.KVApplyResponse{})
		if err == nil {
			t.Fatal("write answered OK although the leader could not store it")
		}
		t.Logf("write whose leader failed to store it: %v", err)

		next := c.waitLeader()
		for i := range 5 {
			if err := call(next, MethodKVApply, kvSet(fmt.Sprintf("after%d", i), "x"), &pb.KVApplyResponse{}); err != nil {
				t.Fatalf("write after the failure: %v", err)
			}
		}
		want := kvValue(t, next, "k", pb.Consistency_CONSISTENCY_CONSISTENT)
		for _, ts := range c.servers {
			waitFor(t, ts.name+" caught up", func() error {
				if got := kvValue(t, ts, "after4", pb.Consistency_CONSISTENCY_STALE); got != "x" {
					return fmt.Errorf("after4 = %q", got)
				}
				return nil
			})
			if got := kvValue(t, ts, "k", pb.Consistency_CONSISTENCY_STALE); got != want {
				t.Errorf("%s reads k = %q, the leader %q: the servers disagree", ts.name, got, want)
			}
			if ts.raft.LastIndex() != next.raft.LastIndex() {
				t.Errorf("%s's log ends at %d, the leader's at %d", ts.name, ts.raft.LastIndex(), next.raft.LastIndex())
			}
		}
	})
}

// A follower's read waits until it has applied up to the leader's read
// index, which it can do only once it knows that index committed. The
// leader sends the commit index along with answering the read index
// (raft.PushCommitIndex), so a default read through a follower right
// after a write through the leader, in a quiet cluster, waits for no
// timer. Without the push it waits for the next write or CommitTimeout
// (70-76 ms of fake time here; 50-90 ms measured between processes).
func TestFollowerReadRightAfterWrite(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		follower := c.followers(leader)[0]
		for i := range 3 {
			synctest.Wait() // quiet: every server idle
			v := fmt.Sprint(i)
			start := time.Now()
			if err := call(leader, MethodKVApply, kvSet("k", v), &pb.KVApplyResponse{}); err != nil {
				t.Fatalf("write: %v", err)
			}
			if got := kvValue(t, follower, "k", pb.Consistency_CONSISTENCY_DEFAULT); got != v {
				t.Fatalf("follower reads %q right after writing %q", got, v)
			}
			if took := time.Since(start); took >= leader.conf.CommitTimeout/2 {
				t.Errorf("write and follower read took %v of fake time; CommitTimeout is %v", took, leader.conf.CommitTimeout)
			}
		}
	})
}

package agent_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

func TestConsulAPISessionsAndLocks(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Clients: 2, Args: []string{"-hcl", `session_ttl_min = "1s"`}})
	c.WaitForLeader(10 * time.Second)
	clients := c.Clients()
	a, b := client(t, clients[0]), client(t, clients[1])

	t.Run("LockHandOffOnUnlock", func(t *testing.T) {
		l1, err := a.LockKey("locks/unlock")
		if err != nil {
			t.Fatal(err)
		}
		l2, err := b.LockKey("locks/unlock")
		if err != nil {
			t.Fatal(err)
		}
		lost1, err := l1.Lock(nil)
		if err != nil || lost1 == nil {
			t.Fatalf("first Lock: %v", err)
		}
		got := make(chan time.Time, 1)
		go func() {
			if _, err := l2.Lock(nil); err != nil {
				t.Error(err)
			}
			got <- time.Now()
		}()
		select {
		case <-got:
			t.Fatal("second contender acquired a held lock")
		case <-time.After(300 * time.Millisecond):
		}
		released := time.Now()
		if err := l1.Unlock(); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			if d := at.Sub(released); d > 16*time.Second {
				t.Fatalf("hand-off took %s", d)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("second contender never acquired")
		}
		l2.Unlock()
	})

	t.Run("AcquireRules", func(t *testing.T) {
		kv := a.KV()
		sid, _, err := a.Session().Create(&api.SessionEntry{LockDelay: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, _, err := kv.Acquire(&api.KVPair{Key: "acq/k", Value: []byte("me"), Session: sid}, nil)
		if err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		p, _, _ := kv.Get("acq/k", nil)
		if p.Session != sid || p.LockIndex != 1 {
			t.Fatalf("pair = %+v", p)
		}
		// Unknown session: a clear 4xx, nothing written.
		_, _, err = kv.Acquire(&api.KVPair{Key: "acq/other", Session: "00000000-0000-0000-0000-000000000000"}, nil)
		var se api.StatusError
		if !errors.As(err, &se) || se.Code != 400 {
			t.Fatalf("unknown session: %v", err)
		}
		if p, _, _ := kv.Get("acq/other", nil); p != nil {
			t.Fatal("refused acquire wrote the key")
		}
		// Destroy the holder: the key is released, lock-delay holds it.
		if _, err := a.Session().Destroy(sid, nil); err != nil {
			t.Fatal(err)
		}
		sid2, _, _ := a.Session().Create(&api.SessionEntry{}, nil)
		if ok, _, _ := kv.Acquire(&api.KVPair{Key: "acq/k", Session: sid2}, nil); ok {
			t.Fatal("acquired during lock-delay")
		}
		testcluster.WaitFor(t, 5*time.Second, func() error {
			ok, _, err := kv.Acquire(&api.KVPair{Key: "acq/k", Session: sid2}, nil)
			if err != nil || !ok {
				return fmt.Errorf("not yet: %v", err)
			}
			return nil
		})
		// Bad input.
		for _, se := range []*api.SessionEntry{{TTL: "1ms"}, {TTL: "100h"}, {Behavior: "explode"}, {LockDelay: 2 * time.Minute}} {
			if _, _, err := a.Session().Create(se, nil); err == nil {
				t.Errorf("session %+v accepted", se)
			}
		}
	})

	t.Run("SessionInfoRenewList", func(t *testing.T) {
		sid, _, err := b.Session().Create(&api.SessionEntry{Name: "worker", TTL: "10s", Behavior: api.SessionBehaviorDelete}, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, _, err := a.Session().Info(sid, nil)
		if err != nil || info == nil || info.Name != "worker" || info.Node != clients[1].Name || info.TTL != "10s" || info.Behavior != "delete" {
			t.Fatalf("info = %+v %v", info, err)
		}
		if len(info.NodeChecks) != 1 || info.NodeChecks[0] != "serfHealth" {
			t.Fatalf("default checks = %v", info.NodeChecks)
		}
		renewed, _, err := b.Session().Renew(sid, nil)
		if err != nil || renewed == nil || renewed.ID != sid {
			t.Fatalf("renew = %+v %v", renewed, err)
		}
		list, _, err := a.Session().Node(clients[1].Name, nil)
		if err != nil || len(list) != 1 {
			t.Fatalf("node sessions = %v %v", list, err)
		}
		b.Session().Destroy(sid, nil)
		if renewed, _, err := b.Session().Renew(sid, nil); err != nil || renewed != nil {
			t.Fatalf("renew of a destroyed session = %+v %v", renewed, err)
		}
		if info, _, err := a.Session().Info(sid, nil); err != nil || info != nil {
			t.Fatalf("info of a destroyed session = %+v %v", info, err)
		}
	})

	t.Run("EphemeralKeyVanishesWithTTL", func(t *testing.T) {
		// The TTL runs from the session's creation, which the leader
		// applies after sent and before created. Reads are linearizable:
		// the key went after the start of a read that still saw it and
		// before the end of the first read that did not. So the key gone
		// less than the TTL after sent, or still there more than TTL plus
		// a Raft write's slack after created, is a wrong expiry; the
		// bounds hold however long the requests themselves take.
		const ttl = time.Second
		sent := time.Now()
		sid, _, err := a.Session().CreateNoChecks(&api.SessionEntry{TTL: ttl.String(), Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		if ok, _, err := a.KV().Acquire(&api.KVPair{Key: "services/eph", Value: []byte("x"), Session: sid}, nil); err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		var lastSeen, goneBy time.Time
		testcluster.WaitFor(t, 10*time.Second, func() error {
			start := time.Now()
			p, _, err := a.KV().Get("services/eph", nil)
			if err != nil {
				return err
			}
			if p != nil {
				lastSeen = start
				return fmt.Errorf("still there %s after creation", time.Since(created))
			}
			goneBy = time.Now()
			return nil
		})
		t.Logf("TTL %s: key seen %s after the session was created, gone by %s after its creation was sent",
			ttl, lastSeen.Sub(created), goneBy.Sub(sent))
		if d := goneBy.Sub(sent); d < ttl {
			t.Fatalf("key gone %s after the session's creation was sent, before its %s TTL", d, ttl)
		}
		if d := lastSeen.Sub(created); d > ttl+3*time.Second {
			t.Fatalf("key still there %s after the session was created, TTL %s", d, ttl)
		}
	})

	t.Run("SemaphoreNeverOverLimit", func(t *testing.T) {
		var holders, maxHolders atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			cl := a
			if i%2 == 1 {
				cl = b
			}
			go func() {
				defer wg.Done()
				sem, err := cl.SemaphorePrefix("sem/test", 2)
				if err != nil {
					t.Error(err)
					return
				}
				for round := 0; round < 3; round++ {
					if _, err := sem.Acquire(nil); err != nil {
						t.Error(err)
						return
					}
					n := holders.Add(1)
					for {
						m := maxHolders.Load()
						if n <= m || maxHolders.CompareAndSwap(m, n) {
							break
						}
					}
					time.Sleep(20 * time.Millisecond) // hold the slot for a while (work being simulated, not synchronisation)
					holders.Add(-1)
					if err := sem.Release(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if m := maxHolders.Load(); m > 2 || m < 1 {
			t.Fatalf("max concurrent holders = %d, limit 2", m)
		}
	})

	t.Run("LockReleasedWhenHolderAgentDies", func(t *testing.T) {
		// The holder's session is bound to its node's serfHealth: when the
		// agent dies the leader marks it critical and the lock goes.
		sid, _, err := a.Session().Create(&api.SessionEntry{LockDelay: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		holder, err := a.LockOpts(&api.LockOptions{Key: "locks/die", Session: sid})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := holder.Lock(nil); err != nil {
			t.Fatal(err)
		}
		waiter, err := b.LockKey("locks/die")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan time.Time, 1)
		go func() {
			if _, err := waiter.Lock(nil); err != nil {
				t.Error(err)
			}
			got <- time.Now()
		}()
		died := time.Now()
		c.Stop(clients[0]) // no graceful leave
		select {
		case at := <-got:
			// Failure detection, the 1s lock-delay and the client's 5s
			// retry after a refused acquire bound the hand-off.
			d := at.Sub(died)
			t.Logf("lock acquired %s after the holder's agent died", d)
			if d > 20*time.Second {
				t.Fatalf("hand-off after the holder died took %s", d)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("lock never released after the holder's agent died")
		}
		waiter.Unlock()
	})
}

// A TTL session's expiry is replicated with its renewals: after the leader
// dies, the new leader expires it when it should, not a full TTL late.
func TestSessionTTLSurvivesLeaderChange(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Args: []string{"-hcl", `session_ttl_min = "1s"`}})
	leader := c.WaitForLeader(10 * time.Second)
	follower := c.Followers()[0]
	fc := client(t, follower)
	const ttl = 4 * time.Second
	sid, _, err := fc.Session().CreateNoChecks(&api.SessionEntry{TTL: ttl.String(), Behavior: api.SessionBehaviorDelete}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	if ok, _, err := fc.KV().Acquire(&api.KVPair{Key: "ttl/owner", Session: sid}, nil); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	c.Stop(leader)
	c.WaitForLeader(10 * time.Second)
	var gone time.Duration
	testcluster.WaitFor(t, 20*time.Second, func() error {
		info, _, err := fc.Session().Info(sid, nil)
		if err != nil {
			return err
		}
		if info != nil {
			return fmt.Errorf("session still alive after %s", time.Since(created))
		}
		gone = time.Since(created)
		return nil
	})
	t.Logf("TTL %s session expired %s after creation across a leader change", ttl, gone)
	if gone < ttl-100*time.Millisecond {
		t.Fatalf("expired after %s, before its TTL %s", gone, ttl)
	}
	if gone > ttl+3*time.Second {
		t.Fatalf("expired after %s, long after its TTL %s", gone, ttl)
	}
	if p, _, _ := fc.KV().Get("ttl/owner", nil); p != nil {
		t.Fatal("the expired session's key survived (behavior delete)")
	}
}

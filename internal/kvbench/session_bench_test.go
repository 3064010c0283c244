package kvbench

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkLockHandOff measures the time from a holder's release to the
// next contender's acquisition, the contender waiting in a blocking read
// of the lock key as the Go client's Lock does.
func BenchmarkLockHandOff(b *testing.B) {
	c := testcluster.New(b, testcluster.Options{Servers: 3})
	c.WaitForLeader(30 * time.Second)
	clients := newClients(b, c)
	a, w := clients[0], clients[1]
	sa, _, err := a.Session().CreateNoChecks(&api.SessionEntry{LockDelay: time.Millisecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sw, _, err := w.Session().CreateNoChecks(&api.SessionEntry{LockDelay: time.Millisecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var lat latencies
	local := make([]time.Duration, 0, b.N)
	holder, hc, waiter, wc := sa, a, sw, w
	if ok, _, err := hc.KV().Acquire(&api.KVPair{Key: "bench/lock", Session: holder}, nil); err != nil || !ok {
		b.Fatalf("first acquire: %v %v", ok, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, meta, err := wc.KV().Get("bench/lock", nil)
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time, 1)
		go func(idx uint64) {
			for {
				p, m, err := wc.KV().Get("bench/lock", &api.QueryOptions{WaitIndex: idx, WaitTime: time.Minute})
				if err != nil {
					b.Error(err)
					got <- time.Time{}
					return
				}
				if p != nil && p.Session == "" {
					if ok, _, err := wc.KV().Acquire(&api.KVPair{Key: "bench/lock", Session: waiter}, nil); err == nil && ok {
						got <- time.Now()
						return
					}
				}
				idx = m.LastIndex
			}
		}(meta.LastIndex)
		released := time.Now()
		if _, _, err := hc.KV().Release(&api.KVPair{Key: "bench/lock", Session: holder}, nil); err != nil {
			b.Fatal(err)
		}
		local = append(local, (<-got).Sub(released))
		holder, hc, waiter, wc = waiter, wc, holder, hc
	}
	lat.add(local)
	lat.report(b, time.Duration(1), 0)
}

// BenchmarkSessionRenew keeps 1,000 TTL sessions alive, each renewed every
// TTL/2, and reports renew latency and the process's CPU use (the three
// in-process servers and the clients together).
func BenchmarkSessionRenew(b *testing.B) {
	c := testcluster.New(b, testcluster.Options{Servers: 3})
	c.WaitForLeader(30 * time.Second)
	clients := newClients(b, c)
	const sessions, ttl = 1000, 10 * time.Second
	ids := make([]string, sessions)
	for i := range ids {
		id, _, err := clients[i%len(clients)].Session().CreateNoChecks(&api.SessionEntry{TTL: ttl.String()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	// b.N renew rounds; each session renews once per TTL/2, spread evenly.
	interval := ttl / 2 / sessions
	var lat latencies
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	local := make([]time.Duration, 0, b.N)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t0 := time.Now()
			if _, _, err := clients[i%len(clients)].Session().Renew(ids[i%sessions], nil); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			local = append(local, time.Since(t0))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	lat.add(local)
	lat.report(b, elapsed, b.N)
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds()*100, "cpu-%")
	b.Logf("%d renewals of %d sessions in %s: %s CPU for the whole process", b.N, sessions, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond))
}

package kvbench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkCatalog registers 10,000 instances on 100 nodes (one service
// with 1,000 of them), then measures reads of that service's health, the
// heap the catalog takes, and how fast a failing check leaves a blocking
// ?passing query.
func BenchmarkCatalog(b *testing.B) {
	c := testcluster.New(b, testcluster.Options{Servers: 3})
	c.WaitForLeader(30 * time.Second)
	clients := newClients(b, c)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	regs := make(chan *api.CatalogRegistration, 256)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(cl *api.Client) {
			defer wg.Done()
			for r := range regs {
				if _, err := cl.Catalog().Register(r, nil); err != nil {
					b.Error(err)
				}
			}
		}(clients[w%len(clients)])
	}
	start := time.Now()
	for i := 0; i < 10000; i++ {
		node := fmt.Sprintf("node-%03d", i%100)
		svc := fmt.Sprintf("svc-%d", i%10)
		if i%10 == 0 {
			svc = "big" // 1,000 instances
		}
		regs <- &api.CatalogRegistration{
			Node: node, Address: fmt.Sprintf("10.0.%d.%d", i%100/250, i%100), SkipNodeUpdate: i >= 100,
			Service: &api.AgentService{ID: fmt.Sprintf("%s-%d", svc, i), Service: svc, Port: 8000 + i%1000, Tags: []string{"v1"}},
			Check:   &api.AgentCheck{CheckID: fmt.Sprintf("chk-%d", i), Name: "alive", ServiceID: fmt.Sprintf("%s-%d", svc, i), Status: api.HealthPassing},
		}
	}
	close(regs)
	wg.Wait()
	regTime := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("registered 10,000 instances in %s; heap grew %.1f MiB for 3 servers' stores (in one process)",
		regTime.Round(time.Millisecond), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))

	b.Run("health-service-1000/c16", func(b *testing.B) {
		drive(b, clients, 16, func(cl *api.Client) error {
			entries, _, err := cl.Health().Service("big", "", true, nil)
			if err == nil && len(entries) != 1000 {
				err = fmt.Errorf("%d instances", len(entries))
			}
			return err
		})
	})

	b.Run("check-fail-to-passing-watch", func(b *testing.B) {
		var lat latencies
		local := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			cl := clients[0]
			_, meta, err := cl.Health().Service("big", "", true, nil)
			if err != nil {
				b.Fatal(err)
			}
			woke := make(chan time.Time, 1)
			go func() {
				for {
					e, m, err := cl.Health().Service("big", "", true, (&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute}).WithContext(context.Background()))
					if err != nil || len(e) != 1000 {
						woke <- time.Now()
						return
					}
					meta = m
				}
			}()
			id := fmt.Sprintf("big-%d", (i%1000)*10)
			node := fmt.Sprintf("node-%03d", (i%1000)*10%100)
			status := api.HealthCritical
			t0 := time.Now()
			if _, err := clients[1].Catalog().Register(&api.CatalogRegistration{Node: node, SkipNodeUpdate: true,
				Check: &api.AgentCheck{CheckID: fmt.Sprintf("chk-%d", (i%1000)*10), Name: "alive", ServiceID: id, Status: status}}, nil); err != nil {
				b.Fatal(err)
			}
			local = append(local, (<-woke).Sub(t0))
			// Back to passing for the next round.
			if _, err := clients[1].Catalog().Register(&api.CatalogRegistration{Node: node, SkipNodeUpdate: true,
				Check: &api.AgentCheck{CheckID: fmt.Sprintf("chk-%d", (i%1000)*10), Name: "alive", ServiceID: id, Status: api.HealthPassing}}, nil); err != nil {
				b.Fatal(err)
			}
		}
		lat.add(local)
		lat.report(b, time.Duration(1), 0)
	})
}

package kvbench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkKVReplicationLag measures built-in KV replication between two
// datacenters of three servers on loopback: b.N writes to dc1 under lag/,
// paced at 1,000 per second over 64 writers, while dc2 follows lag/. The
// lag of one write is from the moment its PUT is sent in dc1 to the
// moment the key is in the store of dc2's leader (which applies it
// first); p50/p99 are over every write. put-p50-ms is the PUT's own
// latency in dc1, the part of the lag that is not replication.
//
//	go test ./internal/kvbench -run '^$' -bench KVReplicationLag -benchtime 5000x
func BenchmarkKVReplicationLag(b *testing.B) {
	f := testcluster.NewFederation(b, 2, testcluster.Options{Servers: 3, Tune: func(c *dc.Config) {
		if c.Datacenter == "dc2" {
			c.KVReplication = dc.KVReplicationConfig{SourceDatacenter: "dc1", Prefixes: []string{"lag/"}}
		}
	}})
	f.DC("dc1").WaitForLeader(30 * time.Second)
	dstNode := f.DC("dc2").WaitForLeader(30 * time.Second)
	dst := dstNode.Agent.Server().Store()
	clients := newClients(b, f.DC("dc1"))
	value := []byte(strings.Repeat("v", 128))

	sent := make([]atomic.Int64, b.N)
	arrived := make([]int64, b.N)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchDone := make(chan error, 1)
	go func() {
		seen := 0
		for seen < b.N {
			ws := memdb.NewWatchSet()
			_, entries, err := dst.KVList(ws, "lag/")
			if err != nil {
				watchDone <- err
				return
			}
			now := time.Now().UnixNano()
			for _, e := range entries {
				i, err := strconv.Atoi(strings.TrimPrefix(e.Key, "lag/"))
				if err != nil || i >= b.N || arrived[i] != 0 {
					continue
				}
				arrived[i] = now
				seen++
			}
			if seen == b.N {
				break
			}
			if err := ws.WatchCtx(ctx); err != nil {
				watchDone <- fmt.Errorf("%d of %d writes replicated: %w", seen, b.N, err)
				return
			}
		}
		watchDone <- nil
	}()

	b.ResetTimer()
	start := time.Now()
	jobs := make(chan int, 1024)
	var failed atomic.Int64
	acked := make([]int64, b.N)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func(cl *api.Client) {
			defer wg.Done()
			for i := range jobs {
				sent[i].Store(time.Now().UnixNano())
				if _, err := cl.KV().Put(&api.KVPair{Key: fmt.Sprintf("lag/%d", i), Value: value}, nil); err != nil {
					failed.Add(1)
				}
				acked[i] = time.Now().UnixNano()
			}
		}(clients[w%len(clients)])
	}
	tick := time.NewTicker(time.Millisecond)
	for i := range b.N {
		<-tick.C
		jobs <- i
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	writeRate := float64(b.N) / time.Since(start).Seconds()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d writes failed", n, b.N)
	}
	select {
	case err := <-watchDone:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		cancel()
		b.Fatalf("writes not replicated within 2 minutes: %v", <-watchDone)
	}
	b.StopTimer()
	var lat latencies
	all := make([]time.Duration, b.N)
	for i := range all {
		all[i] = time.Duration(arrived[i] - sent[i].Load())
	}
	lat.add(all)
	puts := make([]time.Duration, b.N)
	for i := range puts {
		puts[i] = time.Duration(acked[i] - sent[i].Load())
	}
	slices.Sort(puts)
	b.ReportMetric(float64(puts[len(puts)/2].Microseconds())/1000, "put-p50-ms")
	b.ReportMetric(writeRate, "writes/s")
	lat.report(b, 0, 0)
}

package kvbench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// latencies collects per-operation latencies from many goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// report publishes ops/s (when ops > 0) and the p50/p99 latencies.
func (l *latencies) report(b *testing.B, elapsed time.Duration, ops int) {
	slices.Sort(l.all)
	pct := func(p float64) float64 {
		if len(l.all) == 0 {
			return 0
		}
		return float64(l.all[int(p*float64(len(l.all)-1))].Microseconds()) / 1000
	}
	if ops > 0 {
		b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkFsync measures the disk's 4 KiB write + fsync, the cost every
// Raft append must pay at least once: 1/p50 is the serial write rate a
// store without batching cannot beat.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var lat latencies
	b.ResetTimer()
	start := time.Now()
	local := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		local = append(local, time.Since(t0))
	}
	lat.add(local)
	lat.report(b, time.Since(start), b.N)
}

// variants are the write-path configurations compared. Only "tuned" (the
// defaults: the WAL log store) runs unless MERIDIAN_BENCH_VARIANTS is "all"
// or names variants ("tuned,boltdb").
var variants = []struct {
	name string
	tune func(*dc.Config)
}{
	{"tuned", nil},
	{"boltdb", func(c *dc.Config) { c.LogStoreBackend = dc.LogStoreBoltDB }},
	{"no-batching", func(c *dc.Config) {
		c.BatchApply, c.BatchingFSM, c.NoFreelistSync, c.LogStoreBackend = false, false, false, dc.LogStoreBoltDB
	}},
	{"batch-apply", func(c *dc.Config) {
		c.BatchApply, c.BatchingFSM, c.NoFreelistSync, c.LogStoreBackend = true, false, false, dc.LogStoreBoltDB
	}},
	{"batch-apply+fsm", func(c *dc.Config) {
		c.BatchApply, c.BatchingFSM, c.NoFreelistSync, c.LogStoreBackend = true, true, false, dc.LogStoreBoltDB
	}},
}

func BenchmarkKV(b *testing.B) {
	for _, v := range variants {
		if !variantSelected(v.name) {
			continue
		}
		b.Run(v.name, func(b *testing.B) {
			c := testcluster.New(b, testcluster.Options{Servers: 3, Tune: v.tune})
			c.WaitForLeader(30 * time.Second)
			// MERIDIAN_BENCH_DISK_DELAY (a duration) adds that much to every
			// Raft log write of every server: a disk whose sync is slower
			// than this machine's.
			if d := os.Getenv("MERIDIAN_BENCH_DISK_DELAY"); d != "" {
				delay, err := time.ParseDuration(d)
				if err != nil {
					b.Fatalf("MERIDIAN_BENCH_DISK_DELAY: %v", err)
				}
				for _, n := range c.Servers() {
					n.DiskDelay.Store(int64(delay))
				}
			}
			clients := newClients(b, c)
			value := []byte(strings.Repeat("v", 256))
			var seq atomic.Int64
			put := func(cl *api.Client) error {
				k := fmt.Sprintf("bench/%d", seq.Add(1))
				_, err := cl.KV().Put(&api.KVPair{Key: k, Value: value}, nil)
				return err
			}
			// Keys for the reads.
			for i := 0; i < 100; i++ {
				if _, err := clients[0].KV().Put(&api.KVPair{Key: fmt.Sprintf("read/%d", i), Value: value}, nil); err != nil {
					b.Fatal(err)
				}
			}
			get := func(opts api.QueryOptions) func(*api.Client) error {
				return func(cl *api.Client) error {
					k := fmt.Sprintf("read/%d", seq.Add(1)%100)
					o := opts
					_, _, err := cl.KV().Get(k, &o)
					return err
				}
			}
			b.Run("put/c1", func(b *testing.B) { drive(b, clients, 1, put) })
			b.Run("put/c64", func(b *testing.B) { drive(b, clients, 64, put) })
			if v.name != "tuned" {
				return
			}
			// One client on the leader and one on a follower: what the
			// forwarding hop costs a lone writer.
			leader, follower := byRole(b, c, clients)
			b.Run("put/c1-leader", func(b *testing.B) { drive(b, []*api.Client{leader}, 1, put) })
			b.Run("put/c1-follower", func(b *testing.B) { drive(b, []*api.Client{follower}, 1, put) })
			b.Run("get-default/c64", func(b *testing.B) { drive(b, clients, 64, get(api.QueryOptions{})) })
			b.Run("get-consistent/c64", func(b *testing.B) { drive(b, clients, 64, get(api.QueryOptions{RequireConsistent: true})) })
			b.Run("get-stale/c64", func(b *testing.B) { drive(b, clients, 64, get(api.QueryOptions{AllowStale: true})) })
		})
	}
}

func variantSelected(name string) bool {
	sel := os.Getenv("MERIDIAN_BENCH_VARIANTS")
	if sel == "" {
		return name == "tuned"
	}
	return sel == "all" || slices.Contains(strings.Split(sel, ","), name)
}

// newClients makes one client per server; workers spread over them.
func newClients(b *testing.B, c *testcluster.Cluster) []*api.Client {
	var out []*api.Client
	for _, n := range c.Servers() {
		tr := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}
		cl, err := api.NewClient(&api.Config{Address: n.HTTPAddr, Transport: tr})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, cl)
	}
	return out
}

// byRole returns the client of the leader and of one follower.
func byRole(b *testing.B, c *testcluster.Cluster, clients []*api.Client) (leader, follower *api.Client) {
	l := c.WaitForLeader(30 * time.Second)
	for i, n := range c.Servers() {
		if n == l {
			leader = clients[i]
		} else if follower == nil {
			follower = clients[i]
		}
	}
	if leader == nil || follower == nil {
		b.Fatal("no leader and follower among the servers")
	}
	return leader, follower
}

// drive runs b.N operations spread over workers concurrent clients and
// reports throughput and latency percentiles.
func drive(b *testing.B, clients []*api.Client, workers int, op func(*api.Client) error) {
	var lat latencies
	var next atomic.Int64
	var failed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(cl *api.Client) {
			defer wg.Done()
			var local []time.Duration
			for next.Add(1) <= int64(b.N) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(cl); err != nil {
					failed.Add(1)
					continue
				}
				local = append(local, time.Since(t0))
			}
			lat.add(local)
		}(clients[w%len(clients)])
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d operations failed", n, b.N)
	}
	lat.report(b, elapsed, b.N)
}

package kvbench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkSnapshot saves and restores a snapshot of N keys with 256-byte
// values (N from $MERIDIAN_SNAPSHOT_KEYS, default 1,000,000) through the
// leader of a three-server datacenter, over the HTTP API as `meridian
// snapshot save|restore` does, and reports save-s, restore-s (until the
// restore is acknowledged: a quorum has the state) and first-read-s (from
// the acknowledgement to the first successful consistent read of a
// restored key). Run with -benchtime=1x.
func BenchmarkSnapshot(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("MERIDIAN_SNAPSHOT_KEYS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("MERIDIAN_SNAPSHOT_KEYS=%q: want a positive number", s)
		}
		n = v
	}
	c := testcluster.New(b, testcluster.Options{Servers: 3})
	leader := c.WaitForLeader(30 * time.Second)
	cl, err := api.NewClient(&api.Config{Address: leader.HTTPAddr})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, cl, "snap/", n)
	file := filepath.Join(b.TempDir(), "bench.snap")
	for b.Loop() {
		start := time.Now()
		body, _, err := cl.Snapshot().Save(nil)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		size, err := f.ReadFrom(body)
		body.Close()
		if err != nil {
			b.Fatal(err)
		}
		saved := time.Since(start)
		if _, err := cl.KV().Put(&api.KVPair{Key: "later", Value: []byte("x")}, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := cl.Snapshot().Restore(nil, f); err != nil {
			b.Fatal(err)
		}
		restored := time.Since(start)
		f.Close()
		start = time.Now()
		key := fmt.Sprintf("snap/%07d", n-1)
		for {
			pair, _, err := cl.KV().Get(key, &api.QueryOptions{RequireConsistent: true})
			if err == nil && pair != nil {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no read of %s within a minute of the restore: %v", key, err)
			}
			time.Sleep(time.Millisecond) // polling a real process, not synchronising goroutines
		}
		firstRead := time.Since(start)
		if pair, _, err := cl.KV().Get("later", nil); err != nil || pair != nil {
			b.Fatalf("key written after the save survived the restore: %v, %v", pair, err)
		}
		b.ReportMetric(saved.Seconds(), "save-s")
		b.ReportMetric(restored.Seconds(), "restore-s")
		b.ReportMetric(firstRead.Seconds(), "first-read-s")
		b.ReportMetric(float64(size)/(1<<20), "archive-MiB")
	}
}

// fill writes n keys prefix%07d with 256-byte values in transactions of
// 128 sets, from 8 writers. The values are 4096 random ones in turn (1 MiB
// of them, more than gzip's window), so the archive compresses about as
// real data would rather than to nothing.
func fill(b *testing.B, cl *api.Client, prefix string, n int) {
	b.Helper()
	fillBatch(b, cl, prefix, n, 128)
}

// fillBatch is fill with transactions of batch sets.
func fillBatch(b *testing.B, cl *api.Client, prefix string, n, batch int) {
	b.Helper()
	values := make([][]byte, 4096)
	for i := range values {
		values[i] = make([]byte, 256)
		for j := range values[i] {
			values[i][j] = byte(rand.N(256))
		}
	}
	const writers = 8
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for from := range jobs {
				var ops api.TxnOps
				for i := from; i < min(from+batch, n); i++ {
					ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: fmt.Sprintf("%s%07d", prefix, i), Value: values[i%len(values)]}})
				}
				// The sets are idempotent: a transaction whose outcome is
				// unknown (a leader change on a loaded machine) is sent
				// again, up to 5 times.
				var err error
				for try := 0; try < 5; try++ {
					var ok bool
					var resp *api.TxnResponse
					ok, resp, _, err = cl.Txn().Txn(ops, nil)
					if err == nil && !ok {
						err = fmt.Errorf("txn refused: %v", resp.Errors)
						break
					}
					if err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond) // back off before retrying against a real cluster
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	start := time.Now()
loop:
	for from := 0; from < n; from += batch {
		select {
		case jobs <- from:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			b.Fatalf("fill: %v", err)
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatalf("fill: %v", err)
	default:
	}
	b.Logf("wrote %d keys in %s", n, time.Since(start).Round(time.Millisecond))
}

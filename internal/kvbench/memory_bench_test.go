package kvbench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkMemoryAtScale runs a three-server datacenter as real processes
// (the meridian binary, built here), writes N keys of 256 B
// ($MERIDIAN_MEMORY_KEYS, this benchmark runs only when it is set; the
// goal is measured at 1000000) and reports each server's RSS above its
// empty baseline per key (rss-B/key: the largest of the three;
// heap-B/key: the leader's Go heap in use, from its metrics), then stops
// a follower once it has a Raft snapshot of them, starts it again and
// reports restart-s: from the process start until it answers a read of
// the last key written (stale, from its own store) and is in the cluster
// again (a consistent read through it). Run with -benchtime=1x.
//
//	MERIDIAN_MEMORY_KEYS=1000000 go test ./internal/kvbench -run - -bench MemoryAtScale -benchtime 1x -timeout 30m
func BenchmarkMemoryAtScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("MERIDIAN_MEMORY_KEYS"))
	if n <= 0 {
		b.Skip("set MERIDIAN_MEMORY_KEYS to the number of keys (the goal: 1000000)")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "meridian")
	build := exec.Command("go", "build", "-o", bin, "./cmd/meridian")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	ports := testcluster.FreePorts(b, 9)
	type server struct {
		name, http string
		args       []string
		cmd        *exec.Cmd
	}
	servers := make([]*server, 3)
	var joins []string
	for i := range servers {
		joins = append(joins, "-retry-join", "127.0.0.1:"+strconv.Itoa(ports[6+i]))
	}
	for i := range servers {
		s := &server{name: fmt.Sprintf("s%d", i+1), http: "127.0.0.1:" + strconv.Itoa(ports[i])}
		s.args = append([]string{"agent", "-server", "-bootstrap-expect", "3", "-node", s.name,
			"-data-dir", filepath.Join(dir, s.name), "-bind", "127.0.0.1", "-client", "127.0.0.1",
			"-http-port", strconv.Itoa(ports[i]), "-server-port", strconv.Itoa(ports[3+i]),
			"-serf-lan-port", strconv.Itoa(ports[6+i]), "-serf-wan-port", "-1", "-dns-port", "-1",
			"-retry-interval", "200ms", "-log-level", "warn"}, joins...)
		servers[i] = s
	}
	start := func(s *server) {
		s.cmd = exec.Command(bin, s.args...)
		logf, err := os.Create(filepath.Join(dir, s.name+".log"))
		if err != nil {
			b.Fatal(err)
		}
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err := s.cmd.Start(); err != nil {
			b.Fatal(err)
		}
	}
	stop := func(s *server) {
		if s.cmd == nil {
			return
		}
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
		s.cmd = nil
	}
	for _, s := range servers {
		start(s)
		b.Cleanup(func() { stop(s) })
	}
	clients := make([]*api.Client, 3)
	for i, s := range servers {
		c, err := api.NewClient(&api.Config{Address: s.http})
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	testcluster.WaitFor(b, 60*time.Second, func() error {
		for _, c := range clients {
			if _, err := c.KV().Put(&api.KVPair{Key: "warmup", Value: []byte("x")}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	base := make([]int64, 3)
	for i, s := range servers {
		base[i] = rss(b, s.cmd.Process.Pid)
	}
	leaderHeap0 := heapInUse(b, servers[0].http)
	fillStart := time.Now()
	// Transactions of 32 keys: over 16,384 log entries in all, so every
	// server takes a Raft snapshot (its threshold) of the keys.
	fillBatch(b, clients[0], "mem/", n, 32)
	b.Logf("wrote %d keys in %s", n, time.Since(fillStart).Round(time.Second))
	last := fmt.Sprintf("mem/%07d", n-1)
	for _, c := range clients {
		testcluster.WaitFor(b, 5*time.Minute, func() error {
			p, _, err := c.KV().Get(last, &api.QueryOptions{AllowStale: true})
			if err != nil || p == nil {
				return fmt.Errorf("%s not applied yet (%v)", last, err)
			}
			return nil
		})
	}
	var worst float64
	for i, s := range servers {
		r := rss(b, s.cmd.Process.Pid)
		perKey := float64(r-base[i]) / float64(n)
		b.Logf("%s: RSS %d MiB (baseline %d MiB): %.0f B/key", s.name, r>>20, base[i]>>20, perKey)
		worst = max(worst, perKey)
	}
	b.ReportMetric(worst, "rss-B/key")
	b.ReportMetric(float64(heapInUse(b, servers[0].http)-leaderHeap0)/float64(n), "s1-heap-B/key")

	// Restart a server from its snapshot: wait until s3 has one that
	// holds the last key, then stop and start it. The group commit puts
	// many transactions in one log entry, so the fill may stay under the
	// snapshot threshold (16,384 entries): single writes, one entry each,
	// follow until the snapshot is there.
	s3 := servers[2]
	snaps := filepath.Join(dir, s3.name, "raft", "snapshots")
	ticks := 0
	testcluster.WaitFor(b, 10*time.Minute, func() error {
		ents, _ := os.ReadDir(snaps)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".tmp") {
				if _, err := os.Stat(filepath.Join(snaps, e.Name(), "state.bin")); err == nil {
					return nil
				}
			}
		}
		for range 200 {
			ticks++
			if _, err := clients[0].KV().Put(&api.KVPair{Key: "tick", Value: []byte(strconv.Itoa(ticks))}, nil); err != nil {
				return err
			}
		}
		return fmt.Errorf("no snapshot in %s yet (%d single writes)", snaps, ticks)
	})
	b.Logf("snapshot on %s after %d single writes", s3.name, ticks)
	stop(s3)
	restart := time.Now()
	start(s3)
	testcluster.WaitFor(b, 2*time.Minute, func() error {
		p, _, err := clients[2].KV().Get(last, &api.QueryOptions{AllowStale: true})
		if err != nil || p == nil {
			return fmt.Errorf("%s not served yet (%v)", last, err)
		}
		return nil
	})
	staleAt := time.Since(restart)
	testcluster.WaitFor(b, 2*time.Minute, func() error {
		_, _, err := clients[2].KV().Get(last, &api.QueryOptions{RequireConsistent: true})
		return err
	})
	b.ReportMetric(staleAt.Seconds(), "restart-stale-s")
	b.ReportMetric(time.Since(restart).Seconds(), "restart-s")
}

// rss is the resident set size of process pid, in bytes.
func rss(b *testing.B, pid int) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}

// heapInUse is the Go heap in use of the agent at addr, from its metrics.
func heapInUse(b *testing.B, addr string) int64 {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range bytes.Lines(body) {
		if rest, ok := bytes.CutPrefix(line, []byte("go_memstats_heap_inuse_bytes ")); ok {
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
			if err != nil {
				b.Fatal(err)
			}
			return int64(v)
		}
	}
	b.Fatalf("no go_memstats_heap_inuse_bytes in the metrics of %s", addr)
	return 0
}

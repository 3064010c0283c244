package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// devLine is one datacenter's address as `meridian dev` prints it.
var devLine = regexp.MustCompile(`^(dc\d+)\s+http://(\S+)\s+dns (\S+)$`)

// TestDevFederation runs `meridian dev -datacenters 2` as a newcomer
// would: it prints both datacenters' addresses once they route to each
// other, a write through dc1 naming dc2 is read in dc2, dc1's DNS answers
// for a node of dc2, and SIGTERM stops
// the whole federation with status 0 within 5 s.
func TestDevFederation(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "dev.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "dev", "-datacenters", "2", "-log-level", "info")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once the process is reaped
	var waitErr error             // cmd.Wait's result, set before exited closes
	lines := make(chan string, 16)
	go func() {
		// Owned by the process: ends at EOF of its stdout.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		waitErr = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(killTimeout):
			t.Errorf("meridian dev not reaped %s after SIGKILL", killTimeout)
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("---- meridian dev's log ----\n%s", data)
		}
	})

	addrs, dnsAddrs := map[string]string{}, map[string]string{}
	deadline := time.After(startTimeout)
	for len(addrs) < 2 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("meridian dev closed its output after %v", addrs)
			}
			m := devLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("meridian dev printed %q, want lines like \"dc1  http://127.0.0.1:PORT  dns 127.0.0.1:PORT\"", line)
			}
			addrs[m[1]], dnsAddrs[m[1]] = m[2], m[3]
		case <-deadline:
			t.Fatalf("meridian dev printed %v after %s, want dc1 and dc2", addrs, startTimeout)
		}
	}
	hc := &http.Client{Timeout: requestTimeout}
	defer hc.CloseIdleConnections()
	dc1, err := api.NewClient(&api.Config{Address: addrs["dc1"], HttpClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	dc2, err := api.NewClient(&api.Config{Address: addrs["dc2"], HttpClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	// Printed means routed: no waiting from here on.
	if dcs, err := dc1.Catalog().Datacenters(); err != nil || !slices.Equal(dcs, []string{"dc1", "dc2"}) {
		t.Fatalf("datacenters from dc1 = %v, %v; want [dc1 dc2]", dcs, err)
	}
	if _, err := dc1.KV().Put(&api.KVPair{Key: "dev/where", Value: []byte("dc2")}, &api.WriteOptions{Datacenter: "dc2"}); err != nil {
		t.Fatalf("put through dc1 into dc2: %v", err)
	}
	got, _, err := dc2.KV().Get("dev/where", nil)
	if err != nil || got == nil || string(got.Value) != "dc2" {
		t.Fatalf("dc2 reads %+v, %v; want dc2", got, err)
	}
	if local, _, err := dc1.KV().Get("dev/where", nil); err != nil || local != nil {
		t.Fatalf("dc1 reads %+v, %v; want nothing, the write was for dc2", local, err)
	}
	// dc1's DNS address answers for a node of dc2.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, dnsAddrs["dc1"])
	}}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if ips, err := r.LookupHost(ctx, "dc2-server-1.node.dc2.consul"); err != nil || !slices.Equal(ips, []string{"127.0.0.1"}) {
		t.Fatalf("dc1's DNS (%s) resolves dc2-server-1.node.dc2.consul to %v, %v; want [127.0.0.1]", dnsAddrs["dc1"], ips, err)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("meridian dev exited with %v after SIGTERM, want status 0", waitErr)
		}
		t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("meridian dev still running 5s after SIGTERM")
	}
}

// TestFederationSurvivesLossOfADatacenter: two datacenters of three server
// processes, WAN-joined with -retry-join-wan. When every server of dc2 is
// stopped (SIGSTOP), requests for dc2 fail within 5 s; when they are
// killed, dc1's own reads and writes keep their latency and ?dc=dc2 fails
// within 5 s with "No path to datacenter"; when they come back, requests
// for dc2 work again within 30 s without anyone joining anything.
func TestFederationSurvivesLossOfADatacenter(t *testing.T) {
	e := newEnv(t)
	dc1 := e.startDC("dc1", "a", 3)
	var join []string
	for _, s := range dc1 {
		join = append(join, "-retry-join-wan", s.WANAddr)
	}
	dc2 := e.startDC("dc2", "b", 3, append(join, "-retry-interval-wan", "200ms")...)
	// Latency is measured at dc1's leader: a follower's read right after
	// a write waits for the commit to reach it, which is not what this
	// test is about.
	s1 := e.waitLeader(startTimeout, "", dc1...)
	e.waitLeader(startTimeout, "", dc2...)
	crossDC := func() error {
		_, err := s1.API.KV().Put(&api.KVPair{Key: "fed/probe", Value: []byte("x")}, &api.WriteOptions{Datacenter: "dc2"})
		return err
	}
	e.waitFor(startTimeout, "dc1 routing to dc2", crossDC)

	before := localLatency(t, s1.API)
	t.Logf("dc1 before: %s", before)

	// Stopped, dc2's servers keep their connections open and answer
	// nothing: requests for dc2 still fail within 5 s (the RPC pool's pings
	// close the silent sessions), from the first one on, not after gossip
	// noticed.
	for _, s := range dc2 {
		s.Pause()
	}
	paused := time.Now()
	var slowest time.Duration
	for time.Since(paused) < 6*time.Second {
		t0 := time.Now()
		code, body := rawGet(t, "http://"+s1.HTTPAddr+"/v1/kv/fed/probe?dc=dc2")
		took := time.Since(t0)
		if took > 5*time.Second || code != http.StatusInternalServerError {
			t.Fatalf("with dc2's servers stopped a request for dc2 answered %d %q after %s, want a 500 within 5s", code, body, took)
		}
		slowest = max(slowest, took)
	}
	t.Logf("with dc2's servers stopped (SIGSTOP) requests for dc2 failed within %s", slowest.Round(time.Millisecond))
	for _, s := range dc2 {
		s.Resume()
	}
	e.waitFor(30*time.Second, "dc1 routing to dc2 after SIGCONT", crossDC)

	killed := time.Now()
	killAll(dc2...)
	// ?dc=dc2 fails fast and clearly; every single request too.
	var firstClear time.Duration
	for firstClear == 0 {
		t0 := time.Now()
		code, body := rawGet(t, "http://"+s1.HTTPAddr+"/v1/kv/fed/probe?dc=dc2")
		took := time.Since(t0)
		if took > 5*time.Second {
			t.Fatalf("a request for dc2 took %s with dc2 down (%d %q), want under 5s", took, code, body)
		}
		switch {
		case code == http.StatusInternalServerError && strings.Contains(body, "No path to datacenter"):
			firstClear = time.Since(killed)
		case time.Since(killed) > 5*time.Second:
			t.Fatalf("5s after dc2 went down a request for it answers %d %q, want 500 No path to datacenter", code, body)
		}
	}
	t.Logf("?dc=dc2 answered \"No path to datacenter\" %s after the kill", firstClear.Round(time.Millisecond))

	after := localLatency(t, s1.API)
	t.Logf("dc1 with dc2 down: %s", after)
	for _, c := range []struct {
		what          string
		before, after time.Duration
	}{{"read", before.read, after.read}, {"write", before.write, after.write}} {
		if limit := 2*c.before + 5*time.Millisecond; c.after > limit {
			t.Errorf("dc1's %s p50 went from %s to %s with dc2 down, want under %s", c.what, c.before, c.after, limit)
		}
	}

	restarted := time.Now()
	for _, s := range dc2 {
		s.start()
	}
	e.waitFor(30*time.Second, "dc1 routing to dc2 again", crossDC)
	t.Logf("requests for dc2 work again %s after its servers restarted", time.Since(restarted).Round(time.Millisecond))
	got, _, err := dc2[0].API.KV().Get("fed/probe", nil)
	if err != nil || got == nil || string(got.Value) != "x" {
		t.Fatalf("dc2 reads %+v, %v after the write through dc1", got, err)
	}
}

// p50s are the median latencies of dc1's own reads and writes.
type p50s struct{ read, write time.Duration }

func (p p50s) String() string { return fmt.Sprintf("read p50 %s, write p50 %s", p.read, p.write) }

// localLatency measures 40 sequential writes and 40 reads of the local
// datacenter through c.
func localLatency(t *testing.T, c *api.Client) p50s {
	t.Helper()
	const n = 40
	var reads, writes []time.Duration
	for i := range n {
		key := fmt.Sprintf("local/%d", i)
		t0 := time.Now()
		if _, err := c.KV().Put(&api.KVPair{Key: key, Value: []byte("v")}, nil); err != nil {
			t.Fatalf("local write: %v", err)
		}
		writes = append(writes, time.Since(t0))
		t0 = time.Now()
		if got, _, err := c.KV().Get(key, nil); err != nil || got == nil {
			t.Fatalf("local read: %+v, %v", got, err)
		}
		reads = append(reads, time.Since(t0))
	}
	slices.Sort(reads)
	slices.Sort(writes)
	return p50s{read: reads[n/2], write: writes[n/2]}
}

// rawGet returns the status and body of a GET, failing the test on a
// transport error.
func rawGet(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: requestTimeout}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

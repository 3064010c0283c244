package kvbench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// The benchmarks of this file run meridian as separate processes, so the
// memory and CPU they report are the agents' own, not the load
// generator's.

var (
	binMu   sync.Mutex
	binDir  string
	binPath = map[string]string{} // package -> binary built from it
)

// TestMain removes the binaries the process benchmarks built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds the command of pkg (relative to the repository) once per
// test binary.
func binary(b *testing.B, pkg string) string {
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binPath[pkg]; ok {
		return p
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "kvbench-bin")
		if err != nil {
			b.Fatal(err)
		}
		binDir = dir
	}
	p := filepath.Join(binDir, filepath.Base(pkg)+fmt.Sprint(len(binPath)))
	cmd := exec.Command("go", "build", "-o", p, pkg)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	binPath[pkg] = p
	return p
}

// meridianBinary builds ./cmd/meridian once per test binary.
func meridianBinary(b *testing.B) string { return binary(b, "./cmd/meridian") }

// proc is one agent process.
type proc struct {
	cmd  *exec.Cmd
	http string
}

// rssKiB is the process's resident set (VmRSS).
func (p *proc) rssKiB(b *testing.B) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// settledRSSKiB is the process's resident set once it has stopped moving:
// two samples half a second apart within 256 KiB of each other (a fresh
// process still faulting in its pages, or one returning a burst's heap,
// would otherwise make the measurement depend on when it is taken).
func (p *proc) settledRSSKiB(b *testing.B) int {
	deadline := time.Now().Add(30 * time.Second)
	last := p.rssKiB(b)
	for {
		time.Sleep(500 * time.Millisecond) // sampling interval
		cur := p.rssKiB(b)
		if d := cur - last; d < 256 && d > -256 {
			return cur
		}
		if time.Now().After(deadline) {
			b.Fatalf("RSS still moving after 30 s (%d KiB, was %d)", cur, last)
		}
		last = cur
	}
}

// cpu is the process's user+system CPU time so far.
func (p *proc) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

func freePorts(b *testing.B, n int) []int {
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// startServers starts n server processes (one bootstrapping alone when n
// is 1) with args added to their command lines, and waits for a leader.
func startServers(b *testing.B, n int, args ...string) []*proc {
	bin := meridianBinary(b)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "limits.json")
	if err := os.WriteFile(cfg, []byte(`{"limits": {"http_max_conns_per_client": 100000}}`), 0o644); err != nil {
		b.Fatal(err)
	}
	ports := freePorts(b, 3*n)
	var joins []string
	for i := range n {
		joins = append(joins, "-retry-join", fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]))
	}
	var procs []*proc
	for i := range n {
		args := append([]string{"agent", "-server", "-node", fmt.Sprintf("s%d", i+1), "-bind", "127.0.0.1",
			"-client", "127.0.0.1", "-http-port", strconv.Itoa(ports[3*i]), "-server-port", strconv.Itoa(ports[3*i+1]),
			"-serf-lan-port", strconv.Itoa(ports[3*i+2]), "-serf-wan-port", "-1", "-dns-port", "-1",
			"-config-file", cfg, "-log-level", "warn", "-enable-debug", "-data-dir", filepath.Join(dir, fmt.Sprintf("s%d", i+1))},
			args...)
		if n == 1 {
			args = append(args, "-bootstrap")
		} else {
			args = append(args, "-bootstrap-expect", strconv.Itoa(n), "-retry-interval", "200ms")
			args = append(args, joins...)
		}
		cmd := exec.Command(bin, args...)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("s%d.log", i+1)))
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		p := &proc{cmd: cmd, http: fmt.Sprintf("127.0.0.1:%d", ports[3*i])}
		procs = append(procs, p)
		b.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cl := apiClient(b, procs[0].http, 4)
		if l, err := cl.Status().Leader(); err == nil && l != "" {
			// Every server knows the leader and can answer a read.
			ok := true
			for _, p := range procs {
				if _, _, err := apiClient(b, p.http, 4).KV().Get("ready", nil); err != nil {
					ok = false
				}
			}
			if ok {
				return procs
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("no leader within 60 s")
		}
		time.Sleep(100 * time.Millisecond) // polling interval (deadline above)
	}
}

// leaderIndex is the index in procs of the leader's process.
func leaderIndex(b *testing.B, procs []*proc) int {
	resp, err := http.Get("http://" + procs[0].http + "/v1/operator/raft/configuration")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var conf struct {
		Servers []struct {
			Node   string
			Leader bool
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&conf); err != nil {
		b.Fatal(err)
	}
	for _, s := range conf.Servers {
		if s.Leader {
			if i, err := strconv.Atoi(strings.TrimPrefix(s.Node, "s")); err == nil && i >= 1 && i <= len(procs) {
				return i - 1
			}
		}
	}
	b.Fatalf("no leader in %+v", conf)
	return -1
}

// httpsArgs serve a server's API over HTTPS on a port of its own too.
type httpsArgs struct {
	args   []string
	addr   string // host:port of HTTPS
	caFile string
}

// newHTTPSArgs makes a CA and a server certificate of it with meridian's
// own commands, as an operator does, and the arguments that serve HTTPS
// with them.
func newHTTPSArgs(b *testing.B) httpsArgs {
	dir := b.TempDir()
	for _, args := range [][]string{{"tls", "ca", "create"}, {"tls", "cert", "create", "-server"}} {
		cmd := exec.Command(meridianBinary(b), args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("meridian %v: %v: %s", args, err, out)
		}
	}
	h := httpsArgs{caFile: filepath.Join(dir, "consul-agent-ca.pem"), addr: fmt.Sprintf("127.0.0.1:%d", freePorts(b, 1)[0])}
	certFile, keyFile := filepath.Join(dir, "dc1-server-consul-0.pem"), filepath.Join(dir, "dc1-server-consul-0-key.pem")
	_, port, _ := net.SplitHostPort(h.addr)
	h.args = []string{"-https-port", port, "-hcl",
		fmt.Sprintf("tls { defaults { ca_file = %q\ncert_file = %q\nkey_file = %q } }", h.caFile, certFile, keyFile)}
	return h
}

// client is a consul/api client of the HTTPS port as an operator makes
// one (api.DefaultConfig, the CA in TLSConfig): it speaks HTTP/2.
func (h httpsArgs) client(b *testing.B) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = "https://" + h.addr
	cfg.TLSConfig = api.TLSConfig{CAFile: h.caFile}
	cl, err := api.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cfg.Transport.CloseIdleConnections)
	return cl
}

// apiClient is a consul/api client holding up to conns connections.
func apiClient(b *testing.B, addr string, conns int) *api.Client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}
	cl, err := api.NewClient(&api.Config{Address: addr, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// BenchmarkWatchFanoutProcesses: 3 server processes; N watchers block on
// one key through one server (the leader, or a follower); the time from a
// put's acknowledgement to the last watcher's answer, per round (b.N
// rounds). Run scripts/compare-etcd.sh for etcd's figure in the same run.
func BenchmarkWatchFanoutProcesses(b *testing.B) {
	procs := startServers(b, 3)
	li := leaderIndex(b, procs)
	fi := (li + 1) % len(procs)
	for _, n := range []int{100, 1000} {
		for _, on := range []struct {
			name string
			p    *proc
		}{{"leader", procs[li]}, {"follower", procs[fi]}} {
			b.Run(fmt.Sprintf("watchers=%d/%s", n, on.name), func(b *testing.B) {
				writer := apiClient(b, procs[li].http, 4)
				watch := apiClient(b, on.p.http, n+16)
				if dir := os.Getenv("MERIDIAN_BENCH_PROFILES"); dir != "" {
					// A CPU profile of the watchers' server over the rounds'
					// first 10 seconds.
					profiled := make(chan error, 1)
					go func() {
						profiled <- fetchProfile(on.p, "profile?seconds=10", filepath.Join(dir, fmt.Sprintf("fanout-%d-%s-cpu.pb.gz", n, on.name)))
					}()
					defer func() {
						if err := <-profiled; err != nil {
							b.Error(err)
						}
					}()
				}
				var lat latencies
				for r := 0; r < b.N; r++ {
					lat.add([]time.Duration{fanoutRound(b, writer, watch, n, fmt.Sprintf("fanout/%d/%s/%d", n, on.name, r), func() int {
						// The scrape is a request in flight too.
						return int(promSample(on.p.http, "meridian_http_requests_in_flight")) - 1
					})})
				}
				lat.report(b, 0, 0)
			})
		}
	}
}

// watchersIdle is how long watchers wait idle before the put of a fan-out
// round.
const watchersIdle = 200 * time.Millisecond

// fanoutRound starts n watchers of key, waits until held (the requests the
// watchers' server is serving) reaches n, puts the key, and returns the
// time from the put's acknowledgement to the last watcher's answer.
func fanoutRound(b *testing.B, writer, watch *api.Client, n int, key string, held func() int) time.Duration {
	if _, err := writer.KV().Put(&api.KVPair{Key: key, Value: []byte("v0")}, nil); err != nil {
		b.Fatal(err)
	}
	_, meta, err := watch.KV().Get(key, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan time.Time, n)
	for range n {
		go func() {
			p, _, err := watch.KV().Get(key, (&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute}).WithContext(ctx))
			if err != nil || p == nil || string(p.Value) != "v1" {
				done <- time.Time{}
				return
			}
			done <- time.Now()
		}()
	}
	// The put waits until the server holds every watcher's request, and
	// then while they sit idle, as watchers do between changes (and as the
	// shared load generator lets them): part of the scenario, not a wait
	// for anything. Put at once, a fan-out finds the server's and the
	// clients' threads still awake and takes half the time.
	waitFor(b, "every watcher's request held by the server", 30*time.Second, func() bool { return held() >= n })
	time.Sleep(watchersIdle) // the idle spell the comment above describes
	if _, err := writer.KV().Put(&api.KVPair{Key: key, Value: []byte("v1")}, nil); err != nil {
		b.Fatal(err)
	}
	ack := time.Now()
	var last time.Time
	for range n {
		t := <-done
		if t.IsZero() {
			b.Fatal("a watcher failed")
		}
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(ack)
}

// fetchBody is the body and X-Consul-Index of a GET of url.
func fetchBody(b *testing.B, url string) ([]byte, string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return body, resp.Header.Get("X-Consul-Index")
}

// BenchmarkWatchFanoutFloor is BenchmarkWatchFanoutProcesses against
// plainkv's server (a process of its own, as Meridian's servers are): a
// plain net/http server that keeps one value per key and answers held reads
// of a key from one encoded body once a put's answer is written: what the
// consul/api watchers and HTTP/1.1 cost on this machine with no server work
// at all, the floor under Meridian's figure.
func BenchmarkWatchFanoutFloor(b *testing.B) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(b, 1)[0])
	cmd := exec.Command(binary(b, "./internal/plainkv/server"), "-addr", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	held := func() int {
		resp, err := http.Get("http://" + addr + "/held")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		n, err := strconv.Atoi(strings.TrimSpace(string(body)))
		if err != nil {
			return -1
		}
		return n
	}
	waitFor(b, "the plain server to answer", 30*time.Second, func() bool { return held() >= 0 })
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			writer := apiClient(b, addr, 4)
			watch := apiClient(b, addr, n+16)
			var lat latencies
			for r := 0; r < b.N; r++ {
				lat.add([]time.Duration{fanoutRound(b, writer, watch, n, fmt.Sprintf("fanout/%d/%d", n, r), held)})
			}
			lat.report(b, 0, 0)
		})
	}
}

// memstats is the Go runtime's memory gauges of p, in MiB.
func memstats(b *testing.B, p *proc) string {
	resp, err := http.Get("http://" + p.http + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		for _, g := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes"} {
			if v, ok := strings.CutPrefix(sc.Text(), g+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				out = append(out, fmt.Sprintf("%s %.0f", strings.TrimSuffix(strings.TrimPrefix(g, "go_memstats_"), "_bytes"), f/(1<<20)))
			}
		}
	}
	return strings.Join(out, ", ")
}

// saveProfile writes the agent's /debug/pprof/<what> to path.
func saveProfile(b *testing.B, p *proc, what, path string) {
	if err := fetchProfile(p, what, path); err != nil {
		b.Fatal(err)
	}
}

func fetchProfile(p *proc, what, path string) error {
	resp, err := http.Get("http://" + p.http + "/debug/pprof/" + what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// BenchmarkIdleBlockingQueries: one agent process (a single server)
// holds MERIDIAN_IDLE_QUERIES (10,000) blocking queries, on as many keys
// (keys=distinct) or on one key (keys=one); reports the agent's RSS
// growth per query and in all, and its CPU while they wait (and, for
// comparison, before they were opened).
func BenchmarkIdleBlockingQueries(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("MERIDIAN_IDLE_QUERIES")); err == nil && v > 0 {
		n = v
	}
	for _, v := range []struct {
		name          string
		oneKey, https bool
	}{{"keys=distinct", false, false}, {"keys=one", true, false}, {"keys=distinct/https", false, true}} {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				idleRound(b, n, v.oneKey, v.https)
			}
		})
	}
}

// idleRound holds n blocking queries open on one server and reports what
// they cost it. With https they go over HTTPS, where consul/api speaks
// HTTP/2: many queries share a connection, and none is parked.
func idleRound(b *testing.B, n int, oneKey, https bool) {
	var args []string
	var tlsArgs httpsArgs
	if https {
		tlsArgs = newHTTPSArgs(b)
		args = tlsArgs.args
	}
	procs := startServers(b, 1, args...)
	p := procs[0]
	var cl *api.Client
	if https {
		cl = tlsArgs.client(b)
	} else {
		cl = apiClient(b, p.http, n+16)
	}
	key := func(i int) string {
		if oneKey {
			return "idle/k"
		}
		return fmt.Sprintf("idle/%d", i)
	}
	if _, err := cl.KV().Put(&api.KVPair{Key: "idle/k", Value: []byte("v")}, nil); err != nil {
		b.Fatal(err)
	}
	_, meta, err := cl.KV().Get("idle/k", nil)
	if err != nil {
		b.Fatal(err)
	}
	rss0 := p.settledRSSKiB(b)
	const idle = 10 * time.Second
	base0 := p.cpu(b)
	time.Sleep(idle) // the measurement window: CPU with no query open
	baseCPU := p.cpu(b) - base0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // open connections at a steady pace
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-sem
			cl.KV().Get(key(i), (&api.QueryOptions{WaitIndex: meta.LastIndex + 1_000_000, WaitTime: 10 * time.Minute}).WithContext(ctx))
		}()
	}
	// Wait until the agent holds every query: its goroutine count stops
	// growing.
	goroutines := func() int { return int(promSample(p.http, "go_goroutines")) }
	deadline := time.Now().Add(2 * time.Minute)
	for goroutines() < n {
		if time.Now().After(deadline) {
			b.Fatalf("agent holds %d goroutines, want >= %d", goroutines(), n)
		}
		time.Sleep(200 * time.Millisecond) // polling interval (deadline above)
	}
	rss1 := p.settledRSSKiB(b)
	cpu0 := p.cpu(b)
	time.Sleep(idle) // the measurement window: CPU with every query held
	cpu := p.cpu(b) - cpu0
	if dir := os.Getenv("MERIDIAN_BENCH_PROFILES"); dir != "" {
		for _, prof := range []string{"heap", "goroutine"} {
			saveProfile(b, p, prof, filepath.Join(dir, fmt.Sprintf("idle-%s-%v.pb.gz", prof, oneKey)))
		}
		saveProfile(b, p, "profile?seconds=5", filepath.Join(dir, fmt.Sprintf("idle-cpu-%v.pb.gz", oneKey)))
		b.Logf("after %s idle: %s", idle, memstats(b, p))
		saveProfile(b, p, "heap?gc=1", filepath.Join(dir, fmt.Sprintf("idle-heap-gc-%v.pb.gz", oneKey)))
		time.Sleep(5 * time.Second) // what 5 s after a GC look like: the measurement itself
		b.Logf("5 s after a GC: RSS %d MiB above the baseline; %s", (p.rssKiB(b)-rss0)/1024, memstats(b, p))
	}
	b.ReportMetric(float64(rss1-rss0)/1024, "MiB")
	b.ReportMetric(float64(rss1-rss0)*1024/float64(n), "B/query")
	b.ReportMetric(100*cpu.Seconds()/idle.Seconds(), "cpu-%")
	b.ReportMetric(100*baseCPU.Seconds()/idle.Seconds(), "cpu-without-queries-%")
	cancel()
	wg.Wait()
}

// BenchmarkCatalogProcesses: 3 server processes; 10,000 instances on 100
// nodes registered by 32 concurrent clients (one service, "big", has
// 1,000 of them); then 200 sequential reads of /v1/health/service/big
// ?passing; then 15 times a check of big turns critical while a blocking
// ?passing query (on the leader, and on a follower) waits: the time from
// the write's acknowledgement to that query's answer without the
// instance. Reports registrations/s, the p50s, and the leader's RSS growth
// over the registration. b.N is ignored: one run per iteration is long.
func BenchmarkCatalogProcesses(b *testing.B) {
	for range b.N {
		procs := startServers(b, 3)
		li := leaderIndex(b, procs)
		leader, follower := procs[li], procs[(li+1)%3]
		rss0 := leader.settledRSSKiB(b)

		regs := make(chan *api.CatalogRegistration, 256)
		var wg sync.WaitGroup
		var failed sync.Once
		for w := range 32 {
			cl := apiClient(b, procs[w%3].http, 4)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range regs {
					if _, err := cl.Catalog().Register(r, nil); err != nil {
						failed.Do(func() { b.Error(err) })
					}
				}
			}()
		}
		start := time.Now()
		allocs0 := promSample(leader.http, "go_memstats_alloc_bytes_total")
		for i := range 10000 {
			svc := fmt.Sprintf("svc-%d", i%10)
			if i%10 == 0 {
				svc = "big"
			}
			regs <- &api.CatalogRegistration{
				Node: fmt.Sprintf("node-%03d", i%100), Address: fmt.Sprintf("10.0.0.%d", i%100), SkipNodeUpdate: i >= 100,
				Service: &api.AgentService{ID: fmt.Sprintf("%s-%d", svc, i), Service: svc, Port: 8000 + i%1000, Tags: []string{"v1"}},
				Check:   &api.AgentCheck{CheckID: fmt.Sprintf("chk-%d", i), Name: "alive", ServiceID: fmt.Sprintf("%s-%d", svc, i), Status: api.HealthPassing},
			}
		}
		close(regs)
		wg.Wait()
		regRate := 10000 / time.Since(start).Seconds()
		if os.Getenv("MERIDIAN_BENCH_PROFILES") != "" {
			b.Logf("leader allocated %.0f MiB/s while registering", (promSample(leader.http, "go_memstats_alloc_bytes_total")-allocs0)/(1<<20)/time.Since(start).Seconds())
		}
		rss1 := leader.settledRSSKiB(b)
		if dir := os.Getenv("MERIDIAN_BENCH_PROFILES"); dir != "" {
			for range 4 {
				b.Logf("leader after the registrations: RSS +%d MiB; %s; gogc %v", (leader.rssKiB(b)-rss0)/1024, memstats(b, leader), promSample(leader.http, "go_gc_gogc_percent"))
				time.Sleep(time.Second) // sampling interval of the log
			}
			saveProfile(b, leader, "heap?gc=1", filepath.Join(dir, "catalog-leader-heap.pb.gz"))
		}

		// Health reads, through a follower (default consistency).
		var reads latencies
		cl := apiClient(b, follower.http, 4)
		var local []time.Duration
		if dir := os.Getenv("MERIDIAN_BENCH_PROFILES"); dir != "" {
			go func() {
				resp, err := http.Get("http://" + follower.http + "/debug/pprof/profile?seconds=4")
				if err != nil {
					return
				}
				f, _ := os.Create(filepath.Join(dir, "health-cpu.pb.gz"))
				io.Copy(f, resp.Body)
				f.Close()
				resp.Body.Close()
			}()
		}
		for range 200 {
			t0 := time.Now()
			e, _, err := cl.Health().Service("big", "", true, nil)
			if err != nil || len(e) != 1000 {
				b.Fatalf("health read: %d instances, %v", len(e), err)
			}
			local = append(local, time.Since(t0))
		}
		reads.add(local)
		// The same reads fetched without decoding: the server's part.
		// Through the follower by default (as above), and to split it:
		// stale there (no read index from the leader) and on the leader.
		raw := fetchTimes(b, "http://"+follower.http+"/v1/health/service/big?passing", 200)
		rawStale := fetchTimes(b, "http://"+follower.http+"/v1/health/service/big?passing&stale", 200)
		rawLeader := fetchTimes(b, "http://"+leader.http+"/v1/health/service/big?passing", 200)
		local = local[:0]
		// The floor: the same answer, served by a plain net/http server
		// with nothing else to do, decoded by consul/api as above.
		var floor latencies
		local = local[:0]
		body, index := fetchBody(b, "http://"+follower.http+"/v1/health/service/big?passing")
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Consul-Index", index)
			w.Header().Set("X-Consul-KnownLeader", "true")
			w.Header().Set("X-Consul-LastContact", "0")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}))
		plainCl := apiClient(b, strings.TrimPrefix(plain.URL, "http://"), 4)
		rawPlain := fetchTimes(b, plain.URL+"/v1/health/service/big?passing", 200)
		for range 200 {
			t0 := time.Now()
			e, _, err := plainCl.Health().Service("big", "", true, nil)
			if err != nil || len(e) != 1000 {
				b.Fatalf("health read from the plain server: %d instances, %v", len(e), err)
			}
			local = append(local, time.Since(t0))
		}
		plain.Close()
		floor.add(local)

		drop := map[string]*latencies{"leader": {}, "follower": {}}
		writer := apiClient(b, leader.http, 4)
		for i := range 30 {
			on, watchOn := "leader", leader
			if i%2 == 1 {
				on, watchOn = "follower", follower
			}
			wcl := apiClient(b, watchOn.http, 4)
			_, meta, err := wcl.Health().Service("big", "", true, nil)
			if err != nil {
				b.Fatal(err)
			}
			n := i * 10 // the big instances are every tenth
			id, node, chk := fmt.Sprintf("big-%d", n), fmt.Sprintf("node-%03d", n%100), fmt.Sprintf("chk-%d", n)
			blocked0 := promSample(leader.http, "meridian_rpc_queries_blocking")
			woke := make(chan time.Time, 1)
			go func() {
				for {
					e, m, err := wcl.Health().Service("big", "", true, &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
					if err != nil || len(e) != 1000 {
						woke <- time.Now()
						return
					}
					meta = m
				}
			}()
			// The watcher's query waits on the leader (a follower forwards
			// it): measure from once it is held there.
			waitFor(b, "the blocking query to wait on the leader", time.Minute, func() bool {
				return promSample(leader.http, "meridian_rpc_queries_blocking") > blocked0
			})
			set := func(status string) {
				if _, err := writer.Catalog().Register(&api.CatalogRegistration{Node: node, SkipNodeUpdate: true,
					Check: &api.AgentCheck{CheckID: chk, Name: "alive", ServiceID: id, Status: status}}, nil); err != nil {
					b.Fatal(err)
				}
			}
			set(api.HealthCritical)
			ack := time.Now()
			drop[on].add([]time.Duration{(<-woke).Sub(ack)})
			set(api.HealthPassing)
		}
		b.ReportMetric(regRate, "regs/s")
		b.ReportMetric(float64(rss1-rss0)/1024, "leader-MiB")
		pct := func(l *latencies) float64 {
			slices.Sort(l.all)
			return float64(l.all[len(l.all)/2].Microseconds()) / 1000
		}
		b.ReportMetric(pct(&reads), "health-p50-ms")
		b.ReportMetric(pct(raw), "health-fetch-p50-ms")
		b.Logf("health fetched, p50: follower %.2f ms, follower ?stale %.2f ms, leader %.2f ms, plain server %.2f ms",
			pct(raw), pct(rawStale), pct(rawLeader), pct(rawPlain))
		b.ReportMetric(pct(&floor), "health-plain-server-p50-ms")
		b.Logf("health answer: %d bytes", len(body))
		b.ReportMetric(pct(drop["leader"]), "drop-leader-p50-ms")
		b.ReportMetric(pct(drop["follower"]), "drop-follower-p50-ms")
		for _, p := range procs {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}
}

// fetchTimes times n sequential GETs of url, each body read to the end
// without decoding.
func fetchTimes(b *testing.B, url string, n int) *latencies {
	l := &latencies{}
	local := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s, %v", url, resp.Status, err)
		}
		local = append(local, time.Since(t0))
	}
	l.add(local)
	return l
}

// promSample reads one unlabelled sample from an agent's Prometheus
// metrics; -1 when it cannot.
func promSample(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// waitFor polls cond until it holds, failing b after timeout.
func waitFor(b *testing.B, what string, timeout time.Duration, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

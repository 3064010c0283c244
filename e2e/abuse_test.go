package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rssKiB is the resident set of process pid (VmRSS), in KiB.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the agent's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// raiseFileLimit lifts this process's open file limit to its hard limit
// (the test holds thousands of sockets).
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < need {
		t.Fatalf("open file limit %d, the test needs %d", lim.Cur, need)
	}
}

// p99 of a sorted copy of ds.
func p99(ds []time.Duration) time.Duration { return quantile(ds, 0.99) }

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*q)]
}

// TestAbuseAgainstTheBinary runs the abuse list against a real server
// process with its default limits and measures the process. A chunked
// 100 MiB body to several routes and a Content-Length claiming 1 TiB get
// 413 at once; 1,000 slow bodies from one address (half announcing more
// bytes than they send, half a chunk that never ends) leave 200 held and
// 800 refused with 429; the agent's RSS grows less than 10 MiB through
// all of it. The same 1,000 from five addresses are all held, and each
// costs the agent less than 32 KiB while held (a goroutine and its
// buffers). Then, in interleaved rounds, 10,000 connections from one
// address (200 kept idle, the rest refused with 429) do not raise
// another address's median read more than 2x. The 408 each slow body gets
// after 60 s is checked in-process (agent.TestAbuseBoundedBodies, with
// the timeout shortened), which keeps this test under a minute.
func TestAbuseAgainstTheBinary(t *testing.T) {
	raiseFileLimit(t, 12000)
	e := newEnv(t)
	server := e.startServers(1)[0]
	e.waitLeader(startTimeout, "", server)
	pid := server.cmd.Process.Pid
	httpAddr := server.HTTPAddr

	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	defer other.CloseIdleConnections()
	if code, body := rawHTTP(t, server, "PUT", "/v1/kv/a", []byte("v")); code != http.StatusOK {
		t.Fatalf("seed: %d %q", code, body)
	}
	read := func() time.Duration {
		start := time.Now()
		resp, err := other.Get("http://" + httpAddr + "/v1/kv/a")
		if err != nil {
			t.Fatalf("read from 127.0.0.2: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("read from 127.0.0.2: %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	// Warm up: the agent's pools and buffers, and its heap under
	// GOGC=300, reach their steady size.
	for warm := time.Now(); time.Since(warm) < 2*time.Second; {
		read()
	}
	base := rssKiB(t, pid)
	peak := base

	// A chunked 100 MiB body, and a Content-Length that lies high.
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/v1/kv/big", "/v1/txn", "/v1/catalog/register", "/v1/session/create"} {
		req, _ := http.NewRequest(http.MethodPut, "http://"+httpAddr+path, io.NopCloser(io.LimitReader(zeroReader{}, 100<<20)))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("chunked 100 MiB %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked 100 MiB %s: %d, want 413", path, resp.StatusCode)
		}
		peak = max(peak, rssKiB(t, pid))
	}
	c, err := dialFrom("127.0.0.1", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nabc", int64(1)<<40)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("Content-Length 1 TiB: %v %v, want 413", resp, err)
	}
	c.Close()

	// 1,000 slow bodies from one address: 200 are held (the per-address
	// cap), each waiting for the rest of its body; 800 get 429 at once.
	held, refusedSlow, during := slowBodies(t, pid, httpAddr, []string{"127.0.0.1"}, 1000)
	peak = max(peak, during)
	t.Logf("RSS: base %d KiB, peak %d KiB (1,000 slow bodies from one address: %d held, %d refused with 429; RSS then %d KiB)",
		base, peak, held, refusedSlow, during)
	// (The test's own keep-alive connections from 127.0.0.1 hold a few
	// of the 200 slots.)
	if held > 200 || held < 190 || held+refusedSlow != 1000 {
		t.Errorf("slow bodies from one address: %d held, %d refused; want 200 less the test's own connections held, the rest refused", held, refusedSlow)
	}
	if grow := peak - base; grow > 10<<10 {
		t.Errorf("the agent's RSS grew %d KiB, want < 10 MiB", grow)
	}
	// Another address's read latency beside 10,000 connections from one
	// address. They are opened once (the agent keeps 200 and refuses the
	// rest with 429, which leaves 200 idle connections: the steady state),
	// then latency is compared with and without the 200 idle ones in
	// alternating blocks, so that the load of a shared machine weighs on
	// both alike.
	idle, opened, refused, closed, opening := flood(t, httpAddr, "127.0.0.1", 10000, read)
	t.Logf("10,000 connections from 127.0.0.1: %d opened, %d refused with 429, %d kept idle, %d closed by the agent (silent past its header timeout); 127.0.0.2's read p99 while they were opened %v (%d reads)",
		opened, refused, len(idle), closed, p99(opening), len(opening))
	// A kept connection that stays silent past the agent's header timeout
	// (10 s; opening 10,000 can take longer on a loaded machine) is
	// closed, and its slot goes to a later one: never more than 200 open.
	if opened < 9000 || refused+closed < opened-200-100 || len(idle) > 200 {
		t.Errorf("%d connections opened, %d refused, %d closed by the agent, %d kept: want those beyond the cap of 200 refused", opened, refused, closed, len(idle))
	}
	const blocks, samples = 8, 150
	var without, beside []time.Duration
	for b := range blocks {
		for range samples {
			beside = append(beside, read())
		}
		for _, c := range idle {
			c.Close()
		}
		idle = idle[:0]
		for range samples {
			without = append(without, read())
		}
		if b == blocks-1 {
			break
		}
		for range 200 {
			c, err := dialFrom("127.0.0.1", httpAddr)
			if err != nil {
				t.Fatal(err)
			}
			idle = append(idle, c)
		}
	}
	// A cost the idle connections put on every request (a scan of them,
	// say) moves the median; the p99 of 1,200 reads is the machine's
	// other load (seen at 2.1x on a loaded CI run with the median even).
	mw, mb := quantile(without, 0.5), quantile(beside, 0.5)
	t.Logf("127.0.0.2's reads: p50 %v without, %v beside the idle connections from 127.0.0.1 (%.2fx); p99 %v and %v (%d reads each)",
		mw, mb, float64(mb)/float64(mw), p99(without), p99(beside), len(beside))
	if mb > 2*mw {
		t.Errorf("beside 10,000 idle connections from one address another address's median read went from %v to %v, more than 2x", mw, mb)
	}
	// The bodies' bound (10 MiB) is checked above; now the agent also
	// holds 200 idle connections (~20 KiB each in net/http) and the
	// garbage of 10,000 refused ones not yet collected.
	if grow := rssKiB(t, pid) - base; grow > 16<<10 {
		t.Errorf("after all of it the agent's RSS is %d KiB above its base, want < 16 MiB", grow)
	} else {
		t.Logf("agent RSS %d KiB above its base after all of it", grow)
	}

	// The same from five addresses: the agent holds all 1,000. What each
	// costs while held is measured, and bounded.
	before5 := rssKiB(t, pid)
	held, _, during = slowBodies(t, pid, httpAddr, []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"}, 1000)
	perConn := float64(during-before5) / float64(held)
	t.Logf("1,000 slow bodies from five addresses: %d held, RSS %d -> %d KiB (%.1f KiB a held body)", held, before5, during, perConn)
	if held != 1000 || perConn > 32 {
		t.Errorf("%d slow bodies held at %.1f KiB each, want 1,000 at < 32 KiB", held, perConn)
	}

}

// flood opens n connections from src, keeping open every one the agent
// does not answer (those it keeps idle: at most 200) and reading each
// refused one's 429; read runs meanwhile and its latencies come back as
// during. A connection is never closed unanswered, so the agent's count
// stays at its cap and every later one is refused at once, until the agent
// closes kept ones that stayed silent past its header timeout: closed
// counts those.
func flood(t *testing.T, httpAddr, src string, n int, read func() time.Duration) (idle []net.Conn, opened, refused, closed int, during []time.Duration) {
	t.Helper()
	type pendingConn struct {
		c  net.Conn
		br *bufio.Reader // keeps what the first read got of a late answer
	}
	var pending []pendingConn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			c, err := dialFrom(src, httpAddr)
			if err != nil {
				continue
			}
			opened++
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			switch {
			case err == nil && resp.StatusCode == http.StatusTooManyRequests:
				refused++
				c.Close()
			case err != nil && os.IsTimeout(err):
				pending = append(pending, pendingConn{c, br}) // kept, or a late 429
			default:
				closed++
				c.Close()
			}
		}
	}()
	start := time.Now()
	for wait := true; wait; {
		select {
		case <-done:
			wait = false
		default:
			if time.Since(start) > 45*time.Second {
				t.Fatalf("opening %d connections took over 45 s", n)
			}
			during = append(during, read())
		}
	}
	// A late 429 shows within seconds (the agent answers each refused
	// connection in turn, later on a loaded machine); what stays silent
	// is kept idle.
	deadline := time.Now().Add(5 * time.Second)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range pending {
		c := p.c
		wg.Go(func() {
			c.SetReadDeadline(deadline)
			resp, err := http.ReadResponse(p.br, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && resp.StatusCode == http.StatusTooManyRequests:
				refused++
				c.Close()
			case err != nil && os.IsTimeout(err):
				c.SetReadDeadline(time.Time{})
				idle = append(idle, c) // silent: kept
			default: // closed by the agent
				closed++
				c.Close()
			}
		})
	}
	wg.Wait()
	return idle, opened, refused, closed, during
}

// slowBodies opens n connections spread over the source addresses srcs,
// each sending a request whose body never completes (half announce 100
// bytes and send 10, half send a chunk that never ends); it returns how
// many the agent held (no answer yet), how many it refused with 429, and
// the agent's RSS while they were held. Every connection is closed
// before it returns.
func slowBodies(t *testing.T, pid int, httpAddr string, srcs []string, n int) (held, refused, rss int) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := dialFrom(srcs[i%len(srcs)], httpAddr)
		if err != nil {
			t.Fatalf("slow body %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%2 == 0 {
			fmt.Fprintf(c, "PUT /v1/kv/slow%d HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", i)
		} else {
			fmt.Fprintf(c, "PUT /v1/txn HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n[{\"KV\":")
		}
	}
	// A held connection has no answer within a second; a refused one has
	// its 429.
	deadline := time.Now().Add(time.Second)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(deadline)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && resp.StatusCode == http.StatusTooManyRequests:
				refused++
			case err != nil && os.IsTimeout(err):
				held++
			default:
				t.Errorf("a slow body was answered early: %v %v", resp, err)
			}
		})
	}
	wg.Wait()
	return held, refused, rssKiB(t, pid)
}

// zeroReader is an endless body of zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

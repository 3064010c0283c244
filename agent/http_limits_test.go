package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/clock"
)

// newLimitsAgent is a fuzz agent (fake backend) whose configuration and
// fields the test adjusts before its routes are built.
func newLimitsAgent(tb testing.TB, adjustCfg func(*config.Config), adjust func(*Agent)) *fuzzAgent {
	tb.Helper()
	cfg := config.DefaultConfig()
	cfg.NodeName, cfg.Datacenter = "limits-node", "dc1"
	cfg.ClientAddr, cfg.Ports.HTTP = "127.0.0.1", 0
	if adjustCfg != nil {
		adjustCfg(cfg)
	}
	a, err := New(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.cancel() })
	if adjust != nil {
		adjust(a)
	}
	b := &fuzzBackend{cfg: a.cfg}
	a.backend = b
	return &fuzzAgent{a: a, backend: b, handler: a.routes()}
}

// serveHTTP starts the agent's HTTP server (its listener, limits and
// timeouts) and returns its address; the server is closed at the end.
func (fz *fuzzAgent) serveHTTP(tb testing.TB) string {
	tb.Helper()
	if err := fz.a.startHTTP(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		fz.a.httpSrv.Close()
		fz.a.parker.forceClose()
		fz.a.wg.Wait()
	})
	return fz.a.httpLn.Addr().String()
}

func plainRequest(method, path, rawQuery string, body string) *http.Request {
	r := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: path, RawQuery: rawQuery},
		Header:     http.Header{},
		RequestURI: (&url.URL{Path: path, RawQuery: rawQuery}).RequestURI(),
		Body:       io.NopCloser(strings.NewReader(body)),
	}
	r.ContentLength = int64(len(body))
	return r.WithContext(context.Background())
}

// TestKVKeyValidation: a key with a ".." segment or a control character
// is a 400 before routing, for every method; disable_kv_key_validation
// lets it through.
func TestKVKeyValidation(t *testing.T) {
	cases := []struct {
		key string
		ok  bool
	}{
		{"a/b", true},
		{"a..b", true},
		{"a/..b/c", true},
		{"a/b../c", true},
		{".a/.../b", true},
		{"a//b", true},
		{"ключ/値", true},
		{"..", false},
		{"a/..", false},
		{"../a", false},
		{"a/../b", false},
		{"a/b/../../c", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\rb", false},
		{"a\tb", false},
		{"a\x1bb", false},
		{"a\x7fb", false},
	}
	for _, disabled := range []bool{false, true} {
		fz := newLimitsAgent(t, func(c *config.Config) { c.DisableKVKeyValidation = disabled }, nil)
		for _, tc := range cases {
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				w := httptest.NewRecorder()
				fz.handler.ServeHTTP(w, plainRequest(method, "/v1/kv/"+tc.key, "", "v"))
				refused := w.Code == http.StatusBadRequest
				if want := !tc.ok && !disabled; refused != want {
					t.Errorf("disable_kv_key_validation=%v %s %q: %d %q, want refused=%v", disabled, method, tc.key, w.Code, w.Body, want)
				}
				if refused && !strings.HasPrefix(w.Body.String(), "Invalid key") {
					t.Errorf("%s %q: message %q", method, tc.key, w.Body)
				}
			}
		}
		// Only the keys that passed reached the backend.
		if want := 7 * 3; !disabled && fz.backend.calls != want {
			t.Errorf("backend saw %d calls, want %d (refused keys must not reach it)", fz.backend.calls, want)
		}
		// A transaction's keys obey the same rule.
		for _, tc := range cases {
			body, _ := json.Marshal([]map[string]any{{"KV": map[string]any{"Verb": "set", "Key": tc.key, "Value": "dg=="}}})
			w := httptest.NewRecorder()
			fz.handler.ServeHTTP(w, plainRequest(http.MethodPut, "/v1/txn", "", string(body)))
			refused := w.Code == http.StatusBadRequest
			if want := !tc.ok && !disabled; refused != want {
				t.Errorf("disable_kv_key_validation=%v txn key %q: %d %q, want refused=%v", disabled, tc.key, w.Code, w.Body, want)
			}
		}
	}
}

// TestRawKVAnswerIsSandboxed: a ?raw value cannot be sniffed into HTML
// nor run as a page.
func TestRawKVAnswerIsSandboxed(t *testing.T) {
	fz := newLimitsAgent(t, nil, nil)
	w := httptest.NewRecorder()
	fz.handler.ServeHTTP(w, plainRequest(http.MethodGet, "/v1/kv/a", "raw", ""))
	if w.Code != http.StatusOK || w.Body.String() != "value" {
		t.Fatalf("GET ?raw: %d %q", w.Code, w.Body)
	}
	if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if got := w.Header().Get("Content-Security-Policy"); got != "sandbox" {
		t.Errorf("Content-Security-Policy = %q", got)
	}
}

// TestRequestRateLimits: reads and writes have their own bucket; over
// the rate, enforcing refuses reads with 429 and writes with 503,
// permissive and disabled serve everything.
func TestRequestRateLimits(t *testing.T) {
	type step struct {
		method  string
		advance time.Duration
		want    map[string]int // by mode
	}
	all := func(code int) map[string]int {
		return map[string]int{config.RateLimitDisabled: code, config.RateLimitPermissive: code, config.RateLimitEnforcing: code}
	}
	over := func(enforced int) map[string]int {
		return map[string]int{config.RateLimitDisabled: 200, config.RateLimitPermissive: 200, config.RateLimitEnforcing: enforced}
	}
	steps := []step{
		{method: http.MethodGet, want: all(200)},
		{method: http.MethodGet, want: all(200)},
		{method: http.MethodGet, want: over(http.StatusTooManyRequests)},
		{method: http.MethodPut, want: all(200)},
		{method: http.MethodPut, want: over(http.StatusServiceUnavailable)},
		{method: http.MethodDelete, want: over(http.StatusServiceUnavailable)},
		{method: http.MethodGet, advance: 500 * time.Millisecond, want: all(200)},
		{method: http.MethodGet, want: over(http.StatusTooManyRequests)},
		{method: http.MethodPut, want: over(http.StatusServiceUnavailable)},
		{method: http.MethodPut, advance: 500 * time.Millisecond, want: all(200)},
		{method: http.MethodGet, advance: 10 * time.Second, want: all(200)},
		{method: http.MethodGet, want: all(200)},
		{method: http.MethodGet, want: over(http.StatusTooManyRequests)},
	}
	for _, mode := range []string{config.RateLimitDisabled, config.RateLimitPermissive, config.RateLimitEnforcing} {
		t.Run(mode, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			fz := newLimitsAgent(t, func(c *config.Config) {
				c.Limits.RequestLimits = config.RequestLimits{Mode: mode, ReadRate: 2, WriteRate: 1}
			}, func(a *Agent) { a.clk = clk })
			for i, s := range steps {
				clk.Advance(s.advance)
				w := httptest.NewRecorder()
				fz.handler.ServeHTTP(w, plainRequest(s.method, "/v1/kv/a", "", ""))
				if want := s.want[mode]; w.Code != want {
					t.Fatalf("step %d: %s -> %d %q, want %d", i, s.method, w.Code, w.Body, want)
				}
			}
			// The console's pages are not API requests and are not limited.
			for range 5 {
				w := httptest.NewRecorder()
				fz.handler.ServeHTTP(w, plainRequest(http.MethodGet, "/", "", ""))
				if w.Code == http.StatusTooManyRequests {
					t.Fatalf("GET / rate limited")
				}
			}
		})
	}
}

// TestTokenBucketUnlimitedWithoutRate: a rate <= 0 (Consul's -1) is no
// limit even in enforcing mode.
func TestTokenBucketUnlimitedWithoutRate(t *testing.T) {
	fz := newLimitsAgent(t, func(c *config.Config) {
		c.Limits.RequestLimits = config.RequestLimits{Mode: config.RateLimitEnforcing, ReadRate: -1, WriteRate: 0}
	}, func(a *Agent) { a.clk = clock.NewFake(time.Unix(0, 0)) })
	for i := range 100 {
		m := http.MethodGet
		if i%2 == 1 {
			m = http.MethodPut
		}
		w := httptest.NewRecorder()
		fz.handler.ServeHTTP(w, plainRequest(m, "/v1/kv/a", "", ""))
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body)
		}
	}
}

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

// clientFrom is an HTTP client whose connections leave from src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestConnLimitPerClient: 1,000 idle connections from one address hold
// http_max_conns_per_client (200) slots; the 800 beyond get a 429 and are
// closed, while another address is served at once.
func TestConnLimitPerClient(t *testing.T) {
	fz := newLimitsAgent(t, nil, nil)
	addr := fz.serveHTTP(t)
	limit := fz.a.cfg.Limits.HTTPMaxConnsPerClient
	if limit != 200 {
		t.Fatalf("default http_max_conns_per_client = %d, want 200", limit)
	}
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	refused := 0
	for i := range 1000 {
		c := dialFrom(t, "127.0.0.1", addr)
		if i < limit {
			idle = append(idle, c)
			continue
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("connection %d: %d, want 429", i+1, resp.StatusCode)
		}
		refused++
	}
	if refused != 1000-limit {
		t.Fatalf("%d refused, want %d", refused, 1000-limit)
	}
	if n := fz.a.httpConns[0].open("127.0.0.1"); n != limit {
		t.Fatalf("127.0.0.1 holds %d connections, want %d", n, limit)
	}

	// Another address is served, fast.
	other := clientFrom("127.0.0.2")
	start := time.Now()
	for range 20 {
		resp, err := other.Get("http://" + addr + "/v1/kv/a")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("127.0.0.2: %d", resp.StatusCode)
		}
	}
	t.Logf("20 reads from 127.0.0.2 beside %d idle connections from 127.0.0.1: %v", limit, time.Since(start))
	other.CloseIdleConnections()

	// A closed connection gives its slot back.
	idle[0].Close()
	idle = idle[1:]
	waitFor(t, "the closed connection's slot", func() bool { return fz.a.httpConns[0].open("127.0.0.1") == limit-1 })
	c := dialFrom(t, "127.0.0.1", addr)
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after a slot freed: %d", resp.StatusCode)
	}
}

// zeros is an endless body that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// heapNow is the heap after two collections (the second empties the
// sync.Pools' victim caches of the HTTP server's buffers).
func heapNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

const mib = 1 << 20

// TestAbuseBoundedBodies: a chunked 100 MiB body, a Content-Length that
// lies either way and 1,000 slow bodies are answered 413 or 408, and the
// agent's heap grows less than 10 MiB.
func TestAbuseBoundedBodies(t *testing.T) {
	fz := newLimitsAgent(t, func(c *config.Config) { c.Limits.HTTPMaxConnsPerClient = 5000 }, func(a *Agent) {
		a.httpHeaderTimeout, a.httpReadTimeout = 2*time.Second, 2*time.Second
	})
	addr := fz.serveHTTP(t)
	base := heapNow()

	// A chunked 100 MiB body: the agent stops reading at the bound.
	client := clientFrom("127.0.0.1")
	defer client.CloseIdleConnections()
	for _, path := range []string{"/v1/kv/big", "/v1/txn", "/v1/catalog/register", "/v1/query", "/v1/acl/policy", "/v1/event/fire/e", "/v1/session/create", "/v1/coordinate/update"} {
		method := http.MethodPut
		if path == "/v1/query" {
			method = http.MethodPost
		}
		before := heapNow()
		req, _ := http.NewRequest(method, "http://"+addr+path, io.NopCloser(io.LimitReader(zeros{}, 100*mib)))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked 100 MiB %s %s: %d, want 413", method, path, resp.StatusCode)
		}
		after := heapNow()
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10*mib {
			t.Fatalf("chunked 100 MiB %s: %d MiB allocated, want < 10", path, alloc/mib)
		}
	}

	rawStatus := func(c net.Conn) int {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Content-Length lying high: refused before a byte is read, at once
	// (a regression: the server used to wait out the read timeout for
	// bytes to drain before sending the 413).
	for _, cl := range []int64{1 << 40, 1 << 20} {
		c := dialFrom(t, "127.0.0.1", addr)
		start := time.Now()
		fmt.Fprintf(c, "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nabc", cl)
		if code := rawStatus(c); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("Content-Length %d: %d, want 413", cl, code)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("Content-Length %d: the 413 took %v (read timeout 2 s)", cl, took)
		}
		c.Close()
	}

	// 1,000 slow bodies: half announce 100 bytes and send 10, half send
	// a chunk that never ends. Each is a 408 once the read timeout passes.
	const slow = 1000
	conns := make([]net.Conn, slow)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.1", addr)
		if i%2 == 0 {
			fmt.Fprintf(conns[i], "PUT /v1/kv/slow%d HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", i)
		} else {
			fmt.Fprintf(conns[i], "PUT /v1/txn HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n[{\"KV\":")
		}
	}
	waitFor(t, "every slow connection held", func() bool { return fz.a.httpConns[0].open("127.0.0.1") >= slow })
	during := heapNow()
	var wg sync.WaitGroup
	codes := make([]int, slow)
	for i, c := range conns {
		wg.Go(func() {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusRequestTimeout {
			t.Fatalf("slow body %d: %d, want 408", i, code)
		}
	}
	waitFor(t, "every slow connection closed", func() bool { return fz.a.httpConns[0].open("127.0.0.1") == 0 })
	after := heapNow()
	grow := int64(after.HeapAlloc) - int64(base.HeapAlloc)
	t.Logf("heap: base %.1f MiB, with %d slow bodies in flight %.1f MiB (both ends in this process), after %.1f MiB",
		float64(base.HeapAlloc)/mib, slow, float64(during.HeapAlloc)/mib, float64(after.HeapAlloc)/mib)
	if grow > 10*mib {
		t.Fatalf("heap grew %d MiB, want < 10", grow/mib)
	}
}

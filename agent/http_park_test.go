package agent_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// parkedConn is a raw HTTP/1.1 connection to an agent.
type parkedConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *parkedConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &parkedConn{t: t, conn: c, br: bufio.NewReader(c)}
}

func (p *parkedConn) send(reqs ...string) {
	p.t.Helper()
	var all string
	for _, r := range reqs {
		all += r
	}
	if _, err := io.WriteString(p.conn, all); err != nil {
		p.t.Fatal(err)
	}
}

// read reads one response (to a request of method) within 30 s.
func (p *parkedConn) read(method string) (*http.Response, []byte) {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(p.br, &http.Request{Method: method})
	if err != nil {
		p.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp, body
}

func getReq(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: meridian\r\n\r\n"
}

func waitParked(t *testing.T, n *testcluster.Node, want int64) {
	t.Helper()
	testcluster.WaitFor(t, 30*time.Second, func() error {
		if got := n.Agent.ParkedRequests(); got != want {
			return fmt.Errorf("%d requests parked, want %d", got, want)
		}
		return nil
	})
}

// putIndex puts value at key and returns the index a read of it gives.
func putIndex(t *testing.T, kv *api.KV, key, value string) uint64 {
	t.Helper()
	if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return meta.LastIndex
}

// TestParkedBlockingQuery: a blocking read waits off net/http's
// connection goroutine and is answered as net/http would have answered it
// (status, Consul's headers, Content-Type, Content-Length, Date, the
// body); the connection then serves further requests, including one the
// client sent before the answer (pipelined); a HEAD gets headers only;
// Connection: close is honoured; reads that do not block are not parked.
func TestParkedBlockingQuery(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	srv := c.WaitForLeader(30 * time.Second)
	kv := client(t, srv).KV()
	put := func(v string) uint64 { return putIndex(t, kv, "p/k", v) }
	idx := put("v0")

	pc := dialRaw(t, srv.HTTPAddr)
	// A blocking read, and behind it (sent at once) a plain one.
	pc.send(getReq(fmt.Sprintf("/v1/kv/p/k?index=%d&wait=30s", idx)), getReq("/v1/kv/p/k"))
	waitParked(t, srv, 1)
	idx2 := put("v1")
	resp, body := pc.read(http.MethodGet)
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
		t.Fatalf("parked answer: %s %s", resp.Proto, resp.Status)
	}
	if got := resp.Header.Get("X-Consul-Index"); got != strconv.FormatUint(idx2, 10) {
		t.Fatalf("X-Consul-Index %q, want %d", got, idx2)
	}
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Date") == "" ||
		resp.Header.Get("X-Consul-Knownleader") != "true" || resp.ContentLength != int64(len(body)) || resp.Close {
		t.Fatalf("parked answer's headers: %v (length %d, body %d, close %v)", resp.Header, resp.ContentLength, len(body), resp.Close)
	}
	var pairs []api.KVPair
	if err := json.Unmarshal(body, &pairs); err != nil || len(pairs) != 1 || string(pairs[0].Value) != "v1" {
		t.Fatalf("parked answer's body %s: %v", body, err)
	}
	// The pipelined request, answered on the same connection.
	resp, body = pc.read(http.MethodGet)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &pairs) != nil || string(pairs[0].Value) != "v1" {
		t.Fatalf("pipelined read: %s %s", resp.Status, body)
	}
	// The parked read let go of its connection before handing it back
	// (so before the pipelined request was read); its goroutine ends
	// just after.
	if c := srv.Agent.ParkedConns(); c != 0 {
		t.Fatalf("%d connections held for parked reads after a plain read", c)
	}
	waitParked(t, srv, 0)

	// The connection goes on: a HEAD parks and gets headers only, then a
	// GET with Connection: close gets its answer and the end of the
	// connection.
	pc.send(fmt.Sprintf("HEAD /v1/kv/p/k?index=%d&wait=30s HTTP/1.1\r\nHost: meridian\r\n\r\n", idx2))
	waitParked(t, srv, 1)
	idx3 := put("v2")
	resp, body = pc.read(http.MethodHead)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("X-Consul-Index") != strconv.FormatUint(idx3, 10) {
		t.Fatalf("parked HEAD: %s %v %q", resp.Status, resp.Header, body)
	}
	pc.send(fmt.Sprintf("GET /v1/kv/p/k?index=%d&wait=30s HTTP/1.1\r\nHost: meridian\r\nConnection: close\r\n\r\n", idx3))
	waitParked(t, srv, 1)
	put("v3")
	resp, body = pc.read(http.MethodGet)
	if resp.StatusCode != http.StatusOK || !resp.Close || json.Unmarshal(body, &pairs) != nil || string(pairs[0].Value) != "v3" {
		t.Fatalf("parked read with Connection: close: %s close=%v %s", resp.Status, resp.Close, body)
	}
	pc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := pc.br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection after Connection: close: read %d, %v", n, err)
	}

	// An error answer goes out the same way: a bad ?wait is a 400.
	pc = dialRaw(t, srv.HTTPAddr)
	pc.send(getReq(fmt.Sprintf("/v1/kv/p/k?index=%d&wait=forever", idx3)))
	resp, body = pc.read(http.MethodGet)
	if resp.StatusCode != http.StatusBadRequest || len(body) == 0 {
		t.Fatalf("parked bad request: %s %q", resp.Status, body)
	}
	// A blocking read whose index has passed answers at once.
	pc.send(getReq(fmt.Sprintf("/v1/kv/p/k?index=%d", idx)))
	if resp, _ = pc.read(http.MethodGet); resp.StatusCode != http.StatusOK {
		t.Fatalf("stale-index read: %s", resp.Status)
	}
}

// TestParkedQueryEndsWhenClientLeaves: a parked read whose client closes
// its connection ends (the request leaves the in-flight count) without
// waiting for its index or its wait time.
func TestParkedQueryEndsWhenClientLeaves(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	srv := c.WaitForLeader(30 * time.Second)
	kv := client(t, srv).KV()
	if _, err := kv.Put(&api.KVPair{Key: "p/k", Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get("p/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*parkedConn
	for i := range 5 {
		pc := dialRaw(t, srv.HTTPAddr)
		pc.send(getReq(fmt.Sprintf("/v1/kv/p/%d?index=%d&wait=10m", i, meta.LastIndex)))
		conns = append(conns, pc)
	}
	waitParked(t, srv, 5)
	for _, pc := range conns[:3] {
		pc.conn.Close()
	}
	waitParked(t, srv, 2)
	testcluster.WaitFor(t, 30*time.Second, func() error {
		fams, err := scrape(t, srv.HTTPAddr)
		if err != nil {
			return err
		}
		// The two still parked, and the scrape itself.
		if v := value(series(fams, "meridian_http_requests_in_flight", nil)); v != 3 {
			return fmt.Errorf("%v requests in flight", v)
		}
		return nil
	})
	// The two left are still served: a put of one's key answers it, and
	// the other (whose key is missing: its index is the KV store's) with
	// a 404 at the new index.
	if _, err := kv.Put(&api.KVPair{Key: "p/3", Value: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	resp, body := conns[3].read(http.MethodGet)
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("parked read after its neighbours left: %s %q", resp.Status, body)
	}
	if resp, _ := conns[4].read(http.MethodGet); resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Consul-Index") == strconv.FormatUint(meta.LastIndex, 10) {
		t.Fatalf("parked read of a missing key after a put: %s, index %s", resp.Status, resp.Header.Get("X-Consul-Index"))
	}
	waitParked(t, srv, 0)

	// A connection parked again (its socket still in the watch from the
	// first park) is watched again: its client leaving ends the read,
	// and the one left is still answered.
	// (Different keys: identical reads would share one query, run by the
	// first one's goroutine until the last of them leaves.)
	for i, pc := range conns[3:] {
		pc.send(getReq(fmt.Sprintf("/v1/kv/p/%d?index=%s&wait=10m", 3+i, resp.Header.Get("X-Consul-Index"))))
	}
	waitParked(t, srv, 2)
	conns[4].conn.Close()
	waitParked(t, srv, 1)
	if _, err := kv.Put(&api.KVPair{Key: "p/3", Value: []byte("y")}, nil); err != nil {
		t.Fatal(err)
	}
	if n := srv.Agent.ParkedByRead(); runtime.GOOS == "linux" && n != 0 {
		t.Fatalf("%d parks watched by a reading goroutine, want all in the epoll set", n)
	}
	if resp, body := conns[3].read(http.MethodGet); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"Value":"eQ=="`) {
		t.Fatalf("read parked a second time: %s %q", resp.Status, body)
	}
	waitParked(t, srv, 0)
}

// TestParkedQueriesAtShutdown: an agent shutting down ends its parked
// reads at once (each client gets an answer or the connection's end, not
// a hang) and its shutdown does not wait for their wait time.
func TestParkedQueriesAtShutdown(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	srv := c.WaitForLeader(30 * time.Second)
	_, meta, err := client(t, srv).KV().Get("p/none", nil)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*parkedConn
	for range 3 {
		pc := dialRaw(t, srv.HTTPAddr)
		pc.send(getReq(fmt.Sprintf("/v1/kv/p/none?index=%d&wait=10m", meta.LastIndex)))
		conns = append(conns, pc)
	}
	waitParked(t, srv, 3)
	start := time.Now()
	c.Stop(srv)
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("shutdown took %v with parked reads", d)
	}
	for i, pc := range conns {
		pc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(pc.br, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !resp.Close {
				t.Errorf("client %d: answer at shutdown %s keeps the connection", i, resp.Status)
			}
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("client %d: no answer and no end of connection after shutdown", i)
		}
	}
}

// TestParkedConnectionIdles: after its parked answer a connection waits
// in the hang-up watch (Linux), not in net/http, until its next request,
// which net/http then serves; a client leaving an idle connection closes
// it; shutdown closes idle connections.
func TestParkedConnectionIdles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connections idle in the epoll watch on Linux only; elsewhere net/http holds them")
	}
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	srv := c.WaitForLeader(30 * time.Second)
	kv := client(t, srv).KV()
	put := func(v string) string { return strconv.FormatUint(putIndex(t, kv, "i/k", v), 10) }
	idleAre := func(want int) {
		t.Helper()
		testcluster.WaitFor(t, 30*time.Second, func() error {
			if n := srv.Agent.IdleConns(); n != want {
				return fmt.Errorf("%d idle connections, want %d", n, want)
			}
			return nil
		})
	}
	idx := put("v0")
	var conns []*parkedConn
	for range 2 {
		pc := dialRaw(t, srv.HTTPAddr)
		pc.send(getReq("/v1/kv/i/k?index=" + idx + "&wait=10m"))
		conns = append(conns, pc)
	}
	waitParked(t, srv, 2)
	idx = put("v1")
	for _, pc := range conns {
		if resp, _ := pc.read(http.MethodGet); resp.StatusCode != http.StatusOK {
			t.Fatalf("parked answer: %s", resp.Status)
		}
	}
	idleAre(2)
	// The next request of one: served by net/http (a plain read), and
	// then parked again and answered, idle again.
	conns[0].send(getReq("/v1/kv/i/k"))
	if resp, body := conns[0].read(http.MethodGet); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"Value":"djE="`) {
		t.Fatalf("plain read on an idle connection: %s %s", resp.Status, body)
	}
	idleAre(1)
	conns[0].send(getReq("/v1/kv/i/k?index=" + idx + "&wait=10m"))
	waitParked(t, srv, 1)
	put("v2")
	if resp, _ := conns[0].read(http.MethodGet); resp.StatusCode != http.StatusOK {
		t.Fatalf("second parked answer: %s", resp.Status)
	}
	idleAre(2)
	// A client leaving: its idle connection is closed.
	conns[1].conn.Close()
	idleAre(1)
	// Shutdown closes the other.
	c.Stop(srv)
	conns[0].conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := conns[0].br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection after shutdown: read %v, want EOF", err)
	}
}

package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Blocking queries wait off net/http's connection goroutine.
//
// For every request in flight net/http holds its connection goroutine
// (about 20 frames deep while a handler waits: an 8 KiB stack), a second
// goroutine reading ahead to notice the client leaving, and the
// connection's read, write and response buffers (4 + 4 + 2 KiB). A
// blocking query spends nearly all its life waiting, so an agent holding
// thousands of them (every watcher of a key, every Prometheus target
// list) paid ~20 KiB each for nothing. A parked request takes its
// connection from net/http (Hijack), runs the handler on a goroutine of
// its own whose answer is buffered in memory, writes the answer and hands
// the connection back to a second http.Server that serves its next
// request as the first would have. While it waits, one small goroutine
// reads from the connection to notice the client leaving (which ends the
// request's context, as net/http's does); a byte the client sends early
// (its next request, pipelined) is put back in front of the connection.
//
// Only plain blocking reads are parked: HTTP/1.1 GET or HEAD requests
// without a body that carry ?index= on the routes that block on it.
// Everything else is served by net/http as before.

// parkedPrefixes are the routes whose blocking reads are parked.
var parkedPrefixes = []string{"/v1/kv/", "/v1/catalog/", "/v1/health/", "/v1/session/", "/v1/event/list", "/v1/coordinate/", "/v1/query"}

// parkable reports whether r is a blocking read to park.
func parkable(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Header.Get("Upgrade") != "" {
		return false
	}
	idx, ok := rawQueryValue(r.URL.RawQuery, "index")
	if !ok || idx == "" || idx == "0" {
		return false
	}
	for _, p := range parkedPrefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}

// rawQueryValue is the first value of name in a raw query string, as it
// appears there (blocking indexes are digits; anything else is left to
// the handler to refuse).
func rawQueryValue(q, name string) (string, bool) {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// parker serves parked requests and owns the server their connections
// go back to.
type parker struct {
	handler      http.Handler
	srv          *http.Server // serves a connection after its parked answer
	ln           *handoffListener
	writeTimeout time.Duration
	// idleTimeout closes a connection idle in the hang-up watch (the
	// second server's IdleTimeout; 0: never).
	idleTimeout time.Duration
	log         *slog.Logger

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]context.CancelFunc // parked requests: their connection, and what ends them
	hup    *epollWatch                     // nil: a goroutine reads from each connection instead
	wg     sync.WaitGroup

	parked atomic.Int64 // requests parked now
	byRead atomic.Int64 // parks watched by a reading goroutine, ever
}

func newParker(handler http.Handler, writeTimeout time.Duration, log *slog.Logger) *parker {
	return &parker{
		handler: handler, writeTimeout: writeTimeout, log: log,
		ln:    newHandoffListener(),
		hup:   newHangupWatch(),
		conns: map[net.Conn]context.CancelFunc{},
	}
}

// wrap parks the requests that can be and serves the rest with next.
func (p *parker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !parkable(r) || !p.park(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// park takes r's connection from net/http and serves r on a goroutine
// of its own. False means the request was not taken (the parker is
// closed, or the connection cannot be hijacked) and is to be served as
// usual; nothing has been written then.
func (p *parker) park(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.wg.Add(1)
	p.mu.Unlock()
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.wg.Done()
		return false
	}
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		early = bytes.Clone(b)
	}
	p.parked.Add(1)
	go p.serve(conn, early, r)
	return true
}

// serve answers r on conn, then hands conn back (or closes it).
func (p *parker) serve(conn net.Conn, early []byte, r *http.Request) {
	defer p.wg.Done()
	defer p.parked.Add(-1)
	// The request's own context ended when net/http let go of it; the
	// parked one keeps its values and ends when the client leaves or the
	// agent shuts down (p.conns holds its cancel).
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	keep, idled := false, false
	parked := conn // conn may be wrapped below; the map holds this one
	defer func() {
		if idled {
			return // the hang-up watch holds it (see idle)
		}
		p.mu.Lock()
		delete(p.conns, parked)
		p.mu.Unlock()
		if !keep || !p.ln.hand(conn) {
			conn.Close()
		}
	}()
	p.mu.Lock()
	if p.closed {
		cancel() // shutdown began between park and here
	}
	p.conns[conn] = cancel
	p.mu.Unlock()

	var h hangup
	if len(early) == 0 {
		h = p.watchHangup(conn, cancel)
	} else {
		h = noHangup{} // the client has sent more already: it is there
	}
	resp := &bufferedResponse{header: http.Header{}}
	ok := p.run(resp, r.WithContext(ctx))
	gone, more := h.stop()
	if !ok || gone {
		return
	}
	early = append(early, more...)
	_, isTLS := conn.(*tls.Conn)
	closing := r.Close || p.isClosed() || (isTLS && len(early) > 0) ||
		strings.EqualFold(resp.header.Get("Connection"), "close")
	if err := p.write(conn, r, resp, closing); err != nil || closing {
		return
	}
	if len(early) > 0 {
		conn = &prefixConn{Conn: conn, prefix: early}
	} else if !isTLS && p.idle(conn, h) {
		idled = true
		return
	}
	keep = true
}

// idler is a hangup that can go on holding an answered connection until
// its client's next request (see epollHangup.idle).
type idler interface {
	idle(conn net.Conn, timeout time.Duration, wake func(readable bool)) bool
}

// idle leaves conn, answered and kept alive, to the hang-up watch, which
// hands it to the second server when the client's next request arrives,
// or closes it when the client leaves or it stays idle for the server's
// IdleTimeout. An idle connection then costs no goroutine and no buffers,
// and an answer of a fan-out is followed by no hand-over (a goroutine
// woken, another started, a read that finds nothing). False if h cannot
// (the connection is handed back at once then). TLS connections are
// always handed back: the TLS layer may hold the next request's bytes
// already read from the socket, which the watch would not see.
func (p *parker) idle(conn net.Conn, h hangup) bool {
	w, ok := h.(idler)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if !w.idle(conn, p.idleTimeout, func(readable bool) {
		if !readable || !p.ln.hand(conn) {
			conn.Close()
		}
	}) {
		return false
	}
	// Before the connection can be parked again (its next request may
	// arrive at once): that park adds it under the same key.
	delete(p.conns, conn)
	return true
}

// hangup notices a parked request's client leaving while it waits.
type hangup interface {
	// stop ends the watch: gone if the client left (the request's
	// context was cancelled then), and any bytes the watch read from the
	// connection, to be read again before the rest.
	stop() (gone bool, early []byte)
}

type noHangup struct{}

func (noHangup) stop() (bool, []byte) { return false, nil }

// readHangup watches with a goroutine blocked in a one-byte read, as
// net/http's background read does.
type readHangup struct {
	conn     net.Conn
	aborting atomic.Bool
	done     chan struct{}
	gone     bool
	got      [1]byte
	n        int
}

func (p *parker) watchByRead(conn net.Conn, cancel func()) hangup {
	p.byRead.Add(1)
	h := &readHangup{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		n, err := conn.Read(h.got[:])
		h.n = n
		if n == 0 && err != nil && !h.aborting.Load() {
			h.gone = true
			cancel()
		}
	}()
	return h
}

func (h *readHangup) stop() (bool, []byte) {
	h.aborting.Store(true)
	h.conn.SetReadDeadline(time.Unix(1, 0))
	<-h.done
	h.conn.SetReadDeadline(time.Time{})
	if h.gone {
		return true, nil
	}
	return false, h.got[:h.n]
}

// run serves r into resp; false if the handler panicked (logged, as
// net/http does, and the connection is closed).
func (p *parker) run(resp *bufferedResponse, r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				p.log.Error("http: panic serving a parked request", "client", r.RemoteAddr, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
			}
			ok = false
		}
	}()
	p.handler.ServeHTTP(resp, r)
	return true
}

var parkWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}

// write sends resp as net/http would have: a Date, a sniffed
// Content-Type for a body without one, a Content-Length.
func (p *parker) write(conn net.Conn, r *http.Request, resp *bufferedResponse, closing bool) error {
	h := resp.header
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	if _, ok := h["Content-Type"]; !ok && resp.body.Len() > 0 {
		h["Content-Type"] = []string{http.DetectContentType(resp.body.Bytes())}
	}
	h.Del("Connection")
	out := &http.Response{
		StatusCode: resp.status(), ProtoMajor: 1, ProtoMinor: 1, Request: r, Header: h,
		ContentLength: int64(resp.body.Len()), Close: closing,
	}
	if resp.body.Len() > 0 {
		out.Body = io.NopCloser(&resp.body)
	}
	if p.writeTimeout > 0 {
		conn.SetWriteDeadline(time.Now().Add(p.writeTimeout))
		defer conn.SetWriteDeadline(time.Time{})
	}
	bw := parkWriters.Get().(*bufio.Writer)
	bw.Reset(conn)
	defer func() {
		bw.Reset(nil)
		parkWriters.Put(bw)
	}()
	if err := out.Write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (p *parker) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close stops parking: requests from now on are served by net/http, and
// parked ones close their connection once answered.
func (p *parker) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, cancel := range p.conns {
		cancel()
	}
	p.hup.closeIdle()
}

// shutdown stops parking and waits, until ctx ends, for the parked
// requests to be answered (the agent's context has ended them) and for
// the second server to drain.
func (p *parker) shutdown(ctx context.Context) error {
	p.close()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.expireConns()
		return ctx.Err()
	}
	p.hup.close()
	return p.srv.Shutdown(ctx)
}

// forceClose closes every connection the parker's server holds and
// fails the writes of parked answers still going out (their goroutines
// close those connections: a socket is never closed while the hangup
// watch may hold it).
func (p *parker) forceClose() error {
	p.close()
	p.expireConns()
	p.hup.close()
	return p.srv.Close()
}

func (p *parker) expireConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.SetDeadline(time.Unix(1, 0))
	}
}

// bufferedResponse is a parked request's answer, kept until the handler
// returns.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *bufferedResponse) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// handoffListener hands connections to an http.Server as if accepted.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// hand gives c to the server; false if the listener is closed.
func (l *handoffListener) hand(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "parked-connections" }

// prefixConn reads prefix before the connection's own bytes.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

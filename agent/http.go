package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/meridian-io/meridian/agent/config"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// httpError is an error with the HTTP status it answers with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// headerRelay names the datacenter through which a request for another
// datacenter was relayed because this one's servers could not reach it
// directly (absent on direct routes).
const headerRelay = "X-Meridian-Relay"

// relayHeaderWriter sets headerRelay, when the request was relayed, just
// before the status line goes out (handlers such as ?raw reads write their
// body themselves).
type relayHeaderWriter struct {
	http.ResponseWriter
	relay *rpc.RelayNote
	done  bool
}

func (w *relayHeaderWriter) setRelay() {
	if w.done {
		return
	}
	w.done = true
	if via := w.relay.Via(); via != "" {
		w.ResponseWriter.Header().Set(headerRelay, via)
	}
}

func (w *relayHeaderWriter) WriteHeader(code int) {
	w.setRelay()
	w.ResponseWriter.WriteHeader(code)
}

func (w *relayHeaderWriter) Write(b []byte) (int, error) {
	w.setRelay()
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming responses working through the writer.
func (w *relayHeaderWriter) Flush() {
	w.setRelay()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *relayHeaderWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiFunc handles one endpoint: it writes nothing itself on error.
type apiFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// startHTTP serves the HTTP API on every HTTP address (addresses.http,
// or each client address), one listener each, all closed by the one
// server's shutdown.
func (a *Agent) startHTTP() error {
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	if a.cfg.Ports.HTTP != config.PortDisabled {
		addrs := a.cfg.HTTPAddrs
		if len(addrs) == 0 {
			addrs = []string{a.cfg.ClientAddr}
		}
		for _, ip := range addrs {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(a.cfg.Ports.HTTP)))
			if err != nil {
				closeAll()
				return fmt.Errorf("agent: http port: %w", err)
			}
			cl := newConnLimitListener(ln, a.cfg.Limits.HTTPMaxConnsPerClient, a.log)
			a.httpConns = append(a.httpConns, cl)
			lns = append(lns, cl)
		}
		a.httpLn = lns[0]
	}
	tlsLns, err := a.listenHTTPS()
	if err != nil {
		closeAll()
		return err
	}
	if len(tlsLns) > 0 {
		a.httpsLn = tlsLns[0]
		lns = append(lns, tlsLns...)
	}
	maxQuery := a.cfg.MaxQueryTime
	if maxQuery <= 0 {
		maxQuery = 10 * time.Minute
	}
	routes := a.routes()
	a.parker = newParker(routes, parkWriteTimeout, a.log)
	handler := a.parker.wrap(routes)
	a.httpSrv = a.newHTTPServer(maxQuery, handler)
	a.parker.srv = a.newHTTPServer(maxQuery, handler)
	a.parker.idleTimeout = a.parker.srv.IdleTimeout
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.parker.srv.Serve(a.parker.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server of parked connections", "error", err)
		}
	}()
	for _, ln := range lns {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server", "addr", ln.Addr().String(), "error", err)
			}
		}()
	}
	return nil
}

// newHTTPServer is the agent's HTTP server: a request's headers must
// arrive within httpHeaderTimeout of the connection's first byte (the
// handshake timeout) and its body within httpReadTimeout (tests shorten
// both); a body read past that is a 408.
func (a *Agent) newHTTPServer(maxQuery time.Duration, handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: a.httpHeaderTimeout,
		ReadTimeout:       a.httpReadTimeout,
		// A blocking query may wait MaxQueryTime plus 1/16 jitter.
		WriteTimeout: maxQuery + maxQuery/16 + 30*time.Second,
		IdleTimeout:  90 * time.Second,
		BaseContext:  func(net.Listener) context.Context { return a.ctx },
		ErrorLog:     slogStdLogger(a.log),
	}
}

// The HTTP server's read bounds, and the time a parked request's answer
// has to reach the client.
const (
	httpHeaderTimeout = 10 * time.Second
	httpReadTimeout   = 60 * time.Second
	parkWriteTimeout  = time.Minute
)

func (a *Agent) routes() http.Handler {
	h, _ := a.router()
	return h
}

// router returns the agent's HTTP handler and the patterns of every route
// it serves. A request for a route's path with a method no route serves
// there is answered 405 with an Allow header (OPTIONS gets 200 and the
// same header), as Consul does; a path no route serves is a 404.
func (a *Agent) router() (http.Handler, []string) {
	mux := http.NewServeMux()
	if a.metrics == nil {
		a.metrics = newAgentMetrics(a)
	}
	var patterns []string
	a.routeAuths = map[string]routeAuth{}
	// handle registers a route that is not an API function (static pages,
	// pprof): it too states its classification.
	handle := func(pattern string, auth routeAuth, h http.Handler) {
		if auth.kind == 0 {
			panic("agent: route " + pattern + " has no ACL classification")
		}
		if auth.kind != authPublic {
			h = a.guardHandler(auth, h)
		}
		mux.Handle(pattern, h)
		patterns = append(patterns, pattern)
		a.routeAuths[pattern] = auth
	}
	guarded := map[string]http.Handler{}
	for _, rt := range a.routeTable() {
		if rt.auth.kind == 0 {
			panic("agent: route " + rt.pattern + " has no ACL classification")
		}
		hd := a.metrics.instrument(rt.pattern, a.wrap(a.guard(rt)))
		guarded[rt.pattern] = hd
		mux.Handle(rt.pattern, hd)
		patterns = append(patterns, rt.pattern)
		a.routeAuths[rt.pattern] = rt.auth
	}

	if a.cfg.EnableDebug {
		debug := need(acl.ResourceOperator, acl.AccessRead, nil)
		handle("GET /debug/pprof/", debug, http.HandlerFunc(pprof.Index))
		handle("GET /debug/pprof/cmdline", debug, http.HandlerFunc(pprof.Cmdline))
		handle("GET /debug/pprof/profile", debug, http.HandlerFunc(pprof.Profile))
		handle("GET /debug/pprof/symbol", debug, http.HandlerFunc(pprof.Symbol))
		handle("GET /debug/pprof/trace", debug, http.HandlerFunc(pprof.Trace))
	}
	a.registerUI(handle)
	handle("GET /{$}", public("a redirect to the console"), http.HandlerFunc(a.rootPage))
	// Every request no route takes: a known path with another method, or
	// an unknown path.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			methodNotAllowed(w, r, allow)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			http.Error(w, "Invalid URL path: not a recognized HTTP API endpoint", http.StatusNotFound)
			return
		}
		http.NotFound(w, r)
	})
	kv := map[string]http.Handler{
		http.MethodGet:    guarded["GET /v1/kv/{key...}"],
		http.MethodPut:    guarded["PUT /v1/kv/{key...}"],
		http.MethodPost:   guarded["POST /v1/kv/{key...}"],
		http.MethodDelete: guarded["DELETE /v1/kv/{key...}"],
	}
	a.limiter = newRateLimiter(a.cfg.Limits.RequestLimits, a.clk, a.log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every body, on every route, is read through one bound. The
		// bound goes on a copy of the request: net/http keeps its own, and
		// after an answer to a body left unread it drains at most 256 KiB
		// of an unknown reader, but none of its own body when more is
		// announced. Wrapping the server's request made a Content-Length
		// larger than the bound wait for bytes that never come until the
		// read timeout (60 s) before the 413 went out.
		if r.Body != nil && r.Body != http.NoBody {
			r = r.WithContext(r.Context())
			r.Body = http.MaxBytesReader(w, r.Body, a.bodyLimit(r))
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") && !a.limiter.admit(w, r) {
			return
		}
		// KV keys are taken verbatim: ServeMux would clean "a//b" or
		// "a/../b" into another key and redirect.
		if key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/"); ok {
			if !a.cfg.DisableKVKeyValidation {
				if err := checkKVKey(key); err != nil {
					http.Error(w, errorText(err), http.StatusBadRequest)
					return
				}
			}
			if h := kv[r.Method]; h != nil {
				h.ServeHTTP(w, r)
				return
			}
			if r.Method != http.MethodHead {
				methodNotAllowed(w, r, kvMethods)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}), patterns
}

// routeMethods are the methods a route may serve, in the order an Allow
// header lists them. A GET route also serves HEAD (net/http drops the body).
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch}

// kvMethods are the methods of /v1/kv/.
var kvMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete}

// allowedMethods lists the methods some route of mux serves at r's path
// (r itself matched none): mux is asked what it would route r to under
// each method; the catch-all "/" is no route.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range routeMethods {
		probe := *r
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// methodNotAllowed answers a request for a known path with a method its
// routes do not serve: 405 with the Allow header, as Consul sends it; an
// OPTIONS request gets 200 and the same header.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow []string) {
	w.Header().Set("Allow", strings.Join(append([]string{http.MethodOptions}, allow...), ","))
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Error(w, fmt.Sprintf("method %s not allowed", r.Method), http.StatusMethodNotAllowed)
}

// queryKey holds a request's query parameters, parsed once (wrap): a
// request reads them in several places (options, token, pretty, its
// handler), and parsing cost ~5% of a KV read's CPU.
type queryKey struct{}

// kvKey is the key a /v1/kv/ request names: its path after the prefix,
// verbatim (the router takes KV paths before ServeMux would clean them).
func kvKey(r *http.Request) string {
	return strings.TrimPrefix(r.URL.Path, "/v1/kv/")
}

type parsedQuery struct {
	raw  string
	vals url.Values
}

// query returns r's query parameters, shared among their readers: never
// modify them (copy with query(r) to change them).
func query(r *http.Request) url.Values {
	if p, ok := r.Context().Value(queryKey{}).(*parsedQuery); ok && p.raw == r.URL.RawQuery {
		return p.vals
	}
	return r.URL.Query()
}

// wrap turns an apiFunc into a handler: errors become a status and a
// one-line plain-text reason as Consul sends them, results are JSON.
func (a *Agent) wrap(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()[hdrDefaultACLPolicy] = []string{a.defaultACLPolicy()}
		ctx, relay := rpc.WithRelayNote(r.Context())
		ctx = context.WithValue(ctx, queryKey{}, &parsedQuery{raw: r.URL.RawQuery, vals: r.URL.Query()})
		w = &relayHeaderWriter{ResponseWriter: w, relay: relay}
		out, err := fn(w, r.WithContext(ctx))
		if err != nil {
			code := errorStatus(err)
			if code >= 500 {
				a.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			http.Error(w, errorText(err), code)
			return
		}
		if out == nil {
			return
		}
		writeJSON(w, r, http.StatusOK, out)
	})
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var body []byte
	var err error
	if raw, ok := v.(preEncoded); ok {
		body = raw
	} else if _, pretty := query(r)["pretty"]; pretty {
		body, err = json.MarshalIndent(v, "", "    ")
		body = append(body, '\n')
	} else {
		body, err = json.Marshal(v)
	}
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h[hdrContentType] = []string{"application/json"}
	// A length lets the client read the body as it is instead of
	// decoding chunks (a large answer would otherwise be chunked).
	h[hdrContentLength] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	w.Write(body)
}

func errorStatus(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, rpc.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, rpc.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, rpc.ErrPermissionDenied):
		return http.StatusForbidden
	case errors.Is(err, rpc.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// errorText is the error's one-line text without the sentinel's prefix
// where the message already says it all.
func errorText(err error) string {
	if errors.Is(err, dc.ErrACLNotFound) {
		return "ACL not found"
	}
	msg := err.Error()
	for _, sentinel := range []error{rpc.ErrBadRequest, rpc.ErrNotFound, rpc.ErrTooLarge} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
		}
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

// parseQueryOptions reads the query parameters every read takes, with
// Consul's rules and messages.
func (a *Agent) parseQueryOptions(r *http.Request) (*pb.QueryOptions, error) {
	q := query(r)
	opts := &pb.QueryOptions{Dc: q.Get("dc"), Token: a.requestToken(r)}
	_, stale := q["stale"]
	_, consistent := q["consistent"]
	if _, ok := q["max_stale"]; ok {
		stale = true
	}
	if _, ok := q["leader"]; ok {
		stale, consistent = false, false
	}
	switch {
	case stale && consistent:
		return nil, badRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
	case stale:
		opts.Consistency = pb.Consistency_CONSISTENCY_STALE
	case consistent:
		opts.Consistency = pb.Consistency_CONSISTENCY_CONSISTENT
	}
	if v := q.Get("index"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest("Invalid index")
		}
		opts.MinIndex = idx
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, badRequest("Invalid wait time")
		}
		opts.MaxWaitNanos = int64(d)
	}
	if err := a.checkDC(opts.Dc); err != nil {
		return nil, err
	}
	return opts, nil
}

func (a *Agent) writeOptions(r *http.Request) (*pb.WriteOptions, error) {
	w := &pb.WriteOptions{Dc: query(r).Get("dc"), Token: a.requestToken(r)}
	return w, a.checkDC(w.Dc)
}

// checkDC validates a ?dc= value. The local datacenter is answered here;
// any other goes to the servers, where the WAN router will forward it.
func (a *Agent) checkDC(dcName string) error {
	if dcName == "" || dcName == a.cfg.Datacenter {
		return nil
	}
	if dcName == allDC {
		return badRequest("?dc=* is served by the catalog and health list reads only")
	}
	for _, c := range dcName {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return badRequest("Invalid datacenter name %q", dcName)
		}
	}
	return nil
}

func requestToken(r *http.Request) string {
	if t := query(r).Get("token"); t != "" {
		return t
	}
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// setMeta writes the headers of a read's answer.
// Headers every answer carries, in the canonical form Header.Set would
// store them in (set directly, they skip its canonicalization and, for
// keys like "X-Consul-KnownLeader", the string it allocates).
var (
	hdrDefaultACLPolicy     = http.CanonicalHeaderKey("X-Consul-Default-ACL-Policy")
	hdrIndex                = http.CanonicalHeaderKey("X-Consul-Index")
	hdrKnownLeader          = http.CanonicalHeaderKey("X-Consul-KnownLeader")
	hdrLastContact          = http.CanonicalHeaderKey("X-Consul-LastContact")
	hdrEffectiveConsistency = http.CanonicalHeaderKey("X-Consul-Effective-Consistency")
	hdrContentType          = http.CanonicalHeaderKey("Content-Type")
	hdrContentLength        = http.CanonicalHeaderKey("Content-Length")
)

func setMeta(w http.ResponseWriter, m *pb.QueryMeta) {
	if m == nil {
		m = &pb.QueryMeta{}
	}
	h := w.Header()
	h[hdrIndex] = []string{strconv.FormatUint(max(m.Index, 1), 10)}
	h[hdrKnownLeader] = []string{strconv.FormatBool(m.KnownLeader)}
	h[hdrLastContact] = []string{strconv.FormatInt(time.Duration(m.LastContactNanos).Milliseconds(), 10)}
	if m.ResultsFilteredByAcls {
		w.Header().Set(headerFilteredByACLs, "true")
	}
}

// setConsistency writes X-Consul-Effective-Consistency.
func setConsistency(w http.ResponseWriter, c pb.Consistency) {
	v := "leader"
	switch c {
	case pb.Consistency_CONSISTENCY_CONSISTENT:
		v = "consistent"
	case pb.Consistency_CONSISTENCY_STALE:
		v = "stale"
	}
	w.Header()[hdrEffectiveConsistency] = []string{v}
}

// readBody reads a request body of at most limit bytes; a longer one is a
// 413 with Consul's message.
func readBody(r *http.Request, limit int) ([]byte, error) {
	tooLarge := func(n int64) error {
		return &httpError{code: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("Request body(%d bytes) too large, max size: %d bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.", n, limit)}
	}
	if r.ContentLength > int64(limit) {
		return nil, tooLarge(r.ContentLength)
	}
	body, err := readAllLimited(r, limit+1)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(mbe.Limit + 1)
	case isTimeout(err):
		return nil, &httpError{code: http.StatusRequestTimeout, msg: "Request body not received in time"}
	case err != nil:
		return nil, badRequest("read request body: %v", err)
	}
	if len(body) > limit {
		return nil, tooLarge(int64(len(body)))
	}
	return body, nil
}

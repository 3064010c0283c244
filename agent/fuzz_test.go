package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// Fuzz targets of the HTTP API's request decoding. Each drives the real
// routes of an Agent whose backend is a fake that records what reaches it.
// Run one with
//
//	go test -run '^$' -fuzz '^FuzzKVRequest$' -fuzztime 2m -parallel 1 ./agent
//
// The seeds are also committed under testdata/fuzz/<Target>/ so a plain
// `go test ./agent` replays them; -write-fuzz-seeds rewrites those files.

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite testdata/fuzz/<Target>/seed-* from the seeds in fuzz_test.go")

// Limits small enough for the fuzzer to cross them often.
const (
	fuzzKVMaxValue = 64
	fuzzTxnMaxOps  = 8
	fuzzTxnMaxReq  = 8 << 10
)

// fuzzMethods are the request methods a method byte picks from.
var fuzzMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodPatch}

var kvWriteVerbs = map[pb.KVVerb]bool{
	pb.KVVerb_KV_SET: true, pb.KVVerb_KV_CAS: true, pb.KVVerb_KV_LOCK: true, pb.KVVerb_KV_UNLOCK: true,
	pb.KVVerb_KV_DELETE: true, pb.KVVerb_KV_DELETE_TREE: true, pb.KVVerb_KV_DELETE_CAS: true,
}

// fuzzBackend answers every RPC the way the mode byte of the input says
// and records the first request that breaks a limit the HTTP layer
// promises to enforce.
type fuzzBackend struct {
	cfg       *config.Config
	mode      byte
	calls     int
	violation error
}

func (b *fuzzBackend) RPC(_ context.Context, method string, req, resp proto.Message) error {
	b.calls++
	if err := b.check(method, req); err != nil && b.violation == nil {
		b.violation = fmt.Errorf("%s: %w", method, err)
	}
	switch b.mode % 6 {
	case 0:
		fillResponse(resp)
		return nil
	case 1:
		return nil // an empty answer
	case 2:
		return fmt.Errorf("%w: refused by the fake\nover two lines", rpc.ErrBadRequest)
	case 3:
		return fmt.Errorf("%w: nothing here", rpc.ErrNotFound)
	case 4:
		return &rpc.RemoteError{Code: pb.ErrorCode_ERROR_NO_LEADER, Message: rpc.ErrNoLeader.Error()}
	default:
		return errors.New("the fake failed")
	}
}

// fillResponse gives reads something to encode.
func fillResponse(resp proto.Message) {
	switch r := resp.(type) {
	case *pb.KVGetResponse:
		r.Meta = &pb.QueryMeta{Index: 7, KnownLeader: true}
		r.Entries = []*pb.KVEntry{{Key: "a", Value: []byte("value"), Flags: 3, CreateIndex: 5, ModifyIndex: 7, Session: "s"}}
		r.Keys = []string{"a", "dir/"}
	case *pb.KVApplyResponse:
		r.Ok = true
	case *pb.TxnResponse:
		r.Results = []*pb.TxnResult{{Result: &pb.TxnResult_Kv{Kv: &pb.KVEntry{Key: "a", ModifyIndex: 9}}}}
	case *pb.SessionCreateResponse:
		r.Id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e"
	case *pb.PreparedQueryApplyResponse:
		r.Id = "8f246b77-f3e1-ff88-5b48-8ec93abf3e05"
	}
}

// check enforces what the handlers promise: no KV write without a key
// (but delete-tree), no value past kv_max_value_size, no transaction past
// txn_max_ops or with an operation that is not a known KV verb, sessions
// with a node and a lower-case behavior, and no ?dc= that checkDC refuses.
func (b *fuzzBackend) check(method string, req proto.Message) error {
	lim := b.cfg.Limits
	validDC := func(name string) error {
		if name == "" || name == b.cfg.Datacenter {
			return nil
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("datacenter %q passed checkDC", name)
			}
		}
		return nil
	}
	kvOp := func(op *pb.KVOp) error {
		if op.GetEntry() == nil {
			return errors.New("kv op without an entry")
		}
		if n := len(op.Entry.Value); n > lim.KVMaxValueSize {
			return fmt.Errorf("value of %d bytes, limit %d", n, lim.KVMaxValueSize)
		}
		return nil
	}
	switch method {
	case dc.MethodKVGet:
		r := req.(*pb.KVGetRequest)
		if r.Key == "" && !r.Recurse && !r.KeysOnly {
			return errors.New("get without a key")
		}
		return validDC(r.GetQuery().GetDc())
	case dc.MethodKVApply:
		r := req.(*pb.KVApplyRequest)
		if err := kvOp(r.GetOp()); err != nil {
			return err
		}
		if !kvWriteVerbs[r.Op.Verb] {
			return fmt.Errorf("verb %v is not a write", r.Op.Verb)
		}
		if r.Op.Entry.Key == "" && r.Op.Verb != pb.KVVerb_KV_DELETE_TREE {
			return fmt.Errorf("%v without a key", r.Op.Verb)
		}
		if (r.Op.Verb == pb.KVVerb_KV_LOCK || r.Op.Verb == pb.KVVerb_KV_UNLOCK) && r.Op.Entry.Session == "" {
			return fmt.Errorf("%v without a session", r.Op.Verb)
		}
		return validDC(r.GetWrite().GetDc())
	case dc.MethodTxn:
		r := req.(*pb.TxnRequest)
		if n := len(r.Ops); n > lim.TxnMaxOps || n > store.MaxTxnOps {
			return fmt.Errorf("%d operations, limit %d", n, lim.TxnMaxOps)
		}
		for i, op := range r.Ops {
			kv := op.GetKv()
			if kv == nil {
				return fmt.Errorf("operation %d is not a KV operation", i)
			}
			if kv.Verb == pb.KVVerb_KV_VERB_UNSPECIFIED || pb.KVVerb_name[int32(kv.Verb)] == "" {
				return fmt.Errorf("operation %d has verb %d", i, kv.Verb)
			}
			if err := kvOp(kv); err != nil {
				return fmt.Errorf("operation %d: %w", i, err)
			}
		}
		return validDC(r.GetWrite().GetDc())
	case dc.MethodCatalogRegister:
		r := req.(*pb.RegisterRequest)
		if r.GetNode() == nil || r.Node.Datacenter != b.cfg.Datacenter {
			return fmt.Errorf("node %v not of this datacenter", r.GetNode())
		}
		return validDC(r.GetWrite().GetDc())
	case dc.MethodCatalogDeregister:
		return validDC(req.(*pb.DeregisterRequest).GetWrite().GetDc())
	case dc.MethodSessionCreate:
		r := req.(*pb.SessionCreateRequest)
		s := r.GetSession()
		if s == nil || s.Node == "" {
			return errors.New("session without a node")
		}
		if s.Behavior != strings.ToLower(s.Behavior) {
			return fmt.Errorf("behavior %q not lower-case", s.Behavior)
		}
		return validDC(r.GetWrite().GetDc())
	case dc.MethodPreparedQueryApply:
		r := req.(*pb.PreparedQueryApplyRequest)
		if r.Op != pb.PreparedQueryOp_PREPARED_QUERY_CREATE || r.GetQuery().GetId() != "" {
			return fmt.Errorf("POST /v1/query sent %v with ID %q", r.Op, r.GetQuery().GetId())
		}
		for _, dcName := range r.GetQuery().GetService().GetFailover().GetDatacenters() {
			if dcName == "" {
				return errors.New("a failover target without a datacenter")
			}
		}
		return validDC(r.GetWrite().GetDc())
	}
	return nil
}

// fuzzAgent is an Agent that was never started, with the fake backend
// and, for the agent endpoints, a health subsystem that is never started
// either, so no check ever runs.
type fuzzAgent struct {
	a       *Agent
	backend *fuzzBackend
	handler http.Handler
}

func newFuzzAgent(tb testing.TB) *fuzzAgent {
	tb.Helper()
	cfg := config.DefaultConfig()
	cfg.NodeName, cfg.Datacenter = "fuzz-node", "dc1"
	cfg.Limits.KVMaxValueSize, cfg.Limits.TxnMaxOps, cfg.Limits.TxnMaxReqLen = fuzzKVMaxValue, fuzzTxnMaxOps, fuzzTxnMaxReq
	a, err := New(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.cancel() })
	b := &fuzzBackend{cfg: a.cfg}
	a.backend = b
	return &fuzzAgent{a: a, backend: b, handler: a.routes()}
}

// freshLocal gives the agent a new, unstarted health subsystem holding
// the given services, and shuts it down at the end of the test.
func (fz *fuzzAgent) freshLocal(t *testing.T, services ...*pb.Service) *health.Local {
	t.Helper()
	hc := health.DefaultConfig()
	hc.NodeName, hc.Datacenter = fz.a.cfg.NodeName, fz.a.cfg.Datacenter
	l, err := health.New(hc, health.Deps{Catalog: catalogClient{a: fz.a}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Shutdown() })
	for _, s := range services {
		if err := l.AddService(s, nil, health.SourceLocal, false); err != nil {
			t.Fatal(err)
		}
	}
	fz.a.local = l
	return l
}

// serve sends one request through the agent's routes and checks the
// answer's shape and that the backend saw nothing out of bounds.
func (fz *fuzzAgent) serve(t *testing.T, method, path, query string, body []byte, mode byte) *httptest.ResponseRecorder {
	t.Helper()
	fz.backend.mode, fz.backend.calls, fz.backend.violation = mode, 0, nil
	r := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: path, RawQuery: query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Host:       "127.0.0.1:8500",
		RemoteAddr: "127.0.0.1:50000",
		RequestURI: (&url.URL{Path: path, RawQuery: query}).RequestURI(),
		Body:       io.NopCloser(bytes.NewReader(body)),
	}
	r.ContentLength = int64(len(body))
	if mode&0x80 != 0 {
		r.ContentLength = -1 // chunked: the length is found by reading
	}
	r = r.WithContext(context.Background())
	w := httptest.NewRecorder()
	fz.handler.ServeHTTP(w, r)
	if fz.backend.violation != nil {
		t.Fatalf("%s %s?%s reached the backend out of bounds: %v", method, path, query, fz.backend.violation)
	}
	checkAnswer(t, r, w)
	return w
}

// checkAnswer checks the status and body of an answer: 2xx, 4xx or 5xx
// (3xx only for the mux's redirect to a clean path); a plain-text error is
// one non-empty line; a JSON body is valid JSON; the only empty 4xx is a
// KV read's 404.
func checkAnswer(t *testing.T, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	code, body, ctype := w.Code, w.Body.Bytes(), w.Header().Get("Content-Type")
	what := fmt.Sprintf("%s %s?%s -> %d %q", r.Method, r.URL.Path, r.URL.RawQuery, code, body)
	switch {
	case code >= 300 && code < 400:
		redirect := code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect
		if !redirect || w.Header().Get("Location") == "" {
			t.Fatalf("%s: a redirect that is not the mux's", what)
		}
		return
	case code < 200 || code >= 600:
		t.Fatalf("%s: status out of range", what)
	}
	if strings.HasPrefix(ctype, "application/json") && len(body) > 0 && !json.Valid(body) {
		t.Fatalf("%s: JSON answer is not JSON", what)
	}
	if code < 400 || code >= 500 {
		return
	}
	switch {
	case len(body) == 0:
		if code != http.StatusNotFound || !strings.HasPrefix(r.URL.Path, "/v1/kv/") || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			t.Fatalf("%s: empty client error", what)
		}
	case strings.HasPrefix(ctype, "text/plain"):
		line, ok := bytes.CutSuffix(body, []byte("\n"))
		if !ok || len(bytes.TrimSpace(line)) == 0 || bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("%s: client error is not one non-empty line", what)
		}
	case !strings.HasPrefix(ctype, "application/json"):
		t.Fatalf("%s: client error of type %q", what, ctype)
	}
}

type fuzzSeed struct {
	name string
	vals []any
}

// addFuzzSeeds hands the seeds to the fuzzer and, with -write-fuzz-seeds,
// writes each as testdata/fuzz/<target>/seed-<name> in the corpus format
// of `go test` (version 1).
func addFuzzSeeds(f *testing.F, target string, seeds []fuzzSeed) {
	f.Helper()
	for _, s := range seeds {
		f.Add(s.vals...)
	}
	if !*writeFuzzSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range s.vals {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case string:
				fmt.Fprintf(&b, "string(%q)\n", v)
			case byte:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			default:
				f.Fatalf("seed value of type %T", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), b.Bytes(), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

// FuzzKVRequest sends any method, key, query and body to /v1/kv/.
func FuzzKVRequest(f *testing.F) {
	get, put, post, del, head, patch := byte(0), byte(1), byte(2), byte(3), byte(4), byte(5)
	long := bytes.Repeat([]byte("x"), fuzzKVMaxValue+1)
	seed := func(name string, method byte, key, query string, body []byte, mode byte) fuzzSeed {
		return fuzzSeed{name, []any{method, key, query, body, mode}}
	}
	addFuzzSeeds(f, "FuzzKVRequest", []fuzzSeed{
		seed("get", get, "a", "", nil, 0),
		seed("get-missing", get, "a", "", nil, 1),
		seed("get-raw", get, "a", "raw", nil, 0),
		seed("get-recurse", get, "", "recurse&stale", nil, 0),
		seed("get-keys", get, "dir/", "keys&separator=/&index=5&wait=1s", nil, 0),
		seed("get-no-key", get, "", "", nil, 0),
		seed("get-conflict", get, "a", "stale&consistent", nil, 0),
		seed("get-bad-index", get, "a", "index=abc", nil, 0),
		seed("get-bad-wait", get, "a", "wait=-1s", nil, 0),
		seed("get-pretty", get, "a", "pretty&recurse", nil, 0),
		seed("get-error", get, "a", "", nil, 2),
		seed("head", head, "a", "", nil, 0),
		seed("put", put, "a/b", "flags=42", []byte("value"), 0),
		seed("put-chunked", put, "a/b", "", []byte("value"), 0x80),
		seed("put-cas", put, "a", "cas=0", []byte("v"), 1),
		seed("put-acquire", put, "lock", "acquire=adf4238a-882b-9ddc-4a9d-5b6758e4159e", []byte("me"), 0),
		seed("put-release", put, "lock", "release=s", nil, 5),
		seed("put-conflict", put, "a", "cas=1&acquire=s", nil, 0),
		seed("put-bad-flags", put, "a", "flags=-1", nil, 0),
		seed("put-bad-cas", put, "a", "cas=x", nil, 0),
		seed("put-no-key", put, "", "", []byte("v"), 0),
		seed("put-too-large", put, "a", "", long, 0),
		seed("put-too-large-chunked", put, "a", "", long, 0x80),
		seed("put-bad-dc", put, "a", "dc=no%20such", nil, 0),
		seed("put-other-dc", put, "a", "dc=dc2", nil, 4),
		seed("post", post, "a", "", []byte("v"), 3),
		seed("delete", del, "a", "", nil, 0),
		seed("delete-tree", del, "", "recurse", nil, 0),
		seed("delete-cas", del, "a", "cas=7", nil, 0),
		seed("delete-conflict", del, "a", "recurse&cas=7", nil, 0),
		seed("delete-no-key", del, "", "", nil, 0),
		seed("patch", patch, "a", "", nil, 0),
		seed("unclean-path", get, "a//b/../c", "", nil, 0),
		seed("escaped-key", put, "a%2Fb", "", []byte("v"), 0),
		seed("bad-query", get, "a", "%zz&x=;y", nil, 0),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, method byte, key, query string, body []byte, mode byte) {
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		fz.serve(t, m, "/v1/kv/"+key, query, body, mode)
	})
}

// FuzzTxnBody sends any body (and query) to PUT /v1/txn.
func FuzzTxnBody(f *testing.F) {
	op := func(verb, key, value string) string {
		return fmt.Sprintf(`{"KV":{"Verb":%q,"Key":%q,"Value":%q,"Flags":1,"Index":2,"Session":"s"}}`, verb, key, value)
	}
	ops := func(n int) []byte {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = op("get", fmt.Sprint(i), "")
		}
		return []byte("[" + strings.Join(parts, ",") + "]")
	}
	seed := func(name, query string, body string, mode byte) fuzzSeed {
		return fuzzSeed{name, []any{query, []byte(body), mode}}
	}
	addFuzzSeeds(f, "FuzzTxnBody", []fuzzSeed{
		seed("every-verb", "", "["+strings.Join([]string{
			op("set", "a", "dmFsdWU="), op("cas", "a", ""), op("lock", "l", ""), op("unlock", "l", ""),
			op("get", "a", ""), op("get-tree", "", ""), op("check-index", "a", ""), op("check-session", "l", ""),
		}, ",")+"]", 0),
		seed("more-verbs", "pretty", "["+strings.Join([]string{
			op("get-or-empty", "a", ""), op("check-not-exists", "b", ""), op("delete", "a", ""),
			op("delete-tree", "d/", ""), op("delete-cas", "a", ""), op("SET", "A", ""),
		}, ",")+"]", 0),
		seed("rolled-back", "", "["+op("cas", "a", "")+"]", 1),
		seed("backend-error", "", "["+op("set", "a", "")+"]", 2),
		seed("too-many", "", string(ops(fuzzTxnMaxOps+1)), 0),
		seed("at-limit", "", string(ops(fuzzTxnMaxOps)), 0),
		seed("value-too-large", "", "["+op("set", "a", strings.Repeat("QUFB", fuzzKVMaxValue/3+1))+"]", 0),
		seed("bad-base64", "", "["+op("set", "a", "!!")+"]", 0),
		seed("unknown-verb", "", "["+op("frobnicate", "a", "")+"]", 0),
		seed("catalog-op", "", `[{"Node":{"Verb":"set"}}]`, 0),
		seed("empty-op", "", `[{}]`, 0),
		seed("trailing", "", `[] []`, 0),
		seed("not-json", "", `{`, 0),
		seed("object", "", `{"KV":{}}`, 0),
		seed("null", "", `null`, 0),
		seed("empty", "", ``, 0x80),
		seed("stale-and-consistent", "stale&consistent", `[]`, 0),
		seed("bad-dc", "dc=a.b", `[]`, 0),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, query string, body []byte, mode byte) {
		method := http.MethodPut
		if mode&0x40 != 0 {
			method = http.MethodPost
		}
		fz.serve(t, method, "/v1/txn", query, body, mode)
	})
}

// FuzzCatalogRegisterBody sends any body to PUT /v1/catalog/register and
// the same body to /v1/catalog/deregister.
func FuzzCatalogRegisterBody(f *testing.F) {
	seed := func(name, query, body string, mode byte) fuzzSeed {
		return fuzzSeed{name, []any{query, []byte(body), mode}}
	}
	addFuzzSeeds(f, "FuzzCatalogRegisterBody", []fuzzSeed{
		seed("consul-example", "", `{"Datacenter":"dc1","ID":"40e4a748-2192-161a-0510-9bf59fe950b5","Node":"foobar",
"Address":"192.168.10.10","TaggedAddresses":{"lan":"192.168.10.10","wan":"10.0.10.10"},"NodeMeta":{"somekey":"somevalue"},
"Service":{"ID":"redis1","Service":"redis","Tags":["primary","v1"],"Address":"127.0.0.1",
"TaggedAddresses":{"lan":{"address":"127.0.0.1","port":8000}},"Meta":{"redis_version":"4.0"},"Port":8000,
"Weights":{"Passing":10,"Warning":1}},
"Check":{"Node":"foobar","CheckID":"service:redis1","Name":"Redis health check","Notes":"Script based health check",
"Status":"passing","ServiceID":"redis1","Definition":{"TCP":"localhost:8888","Interval":"5s","Timeout":"1s",
"DeregisterCriticalServiceAfter":"30s"}},"SkipNodeUpdate":false}`, 0),
		seed("checks-list", "", `{"Node":"n","Address":"a","Checks":[{"Name":"mem"},null,{"CheckID":"c","Status":"critical"}]}`, 1),
		seed("deregister", "", `{"Node":"foobar","ServiceID":"redis1","CheckID":"x","Datacenter":"dc1"}`, 0),
		seed("other-dc", "", `{"Node":"n","Address":"a","Datacenter":"dc2"}`, 4),
		seed("bad-dc", "", `{"Node":"n","Datacenter":"dc 2"}`, 0),
		seed("query-dc", "dc=dc3", `{"Node":"n","Datacenter":"dc 2"}`, 0),
		seed("backend-refuses", "", `{"Node":"","Address":""}`, 2),
		seed("wrong-types", "", `{"Node":5,"Service":[]}`, 0),
		seed("big-port", "", `{"Node":"n","Service":{"Service":"s","Port":99999999999}}`, 0),
		seed("bad-duration", "", `{"Node":"n","Check":{"Definition":{"Interval":"soon"}}}`, 0),
		seed("number-duration", "", `{"Node":"n","Check":{"Definition":{"Interval":10000000000,"Timeout":1.5}}}`, 0),
		seed("not-json", "", `{"Node":`, 0),
		seed("empty", "", ``, 0),
		seed("null", "", `null`, 5),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, query string, body []byte, mode byte) {
		fz.serve(t, http.MethodPut, "/v1/catalog/register", query, body, mode)
		fz.serve(t, http.MethodPut, "/v1/catalog/deregister", query, body, mode)
	})
}

// FuzzSessionCreateBody sends any body to PUT /v1/session/create.
func FuzzSessionCreateBody(f *testing.F) {
	seed := func(name, query, body string, mode byte) fuzzSeed {
		return fuzzSeed{name, []any{query, []byte(body), mode}}
	}
	addFuzzSeeds(f, "FuzzSessionCreateBody", []fuzzSeed{
		seed("full", "", `{"LockDelay":"15s","Name":"my-service-lock","Node":"foobar","Checks":["serfHealth","a"],
"NodeChecks":["b"],"ServiceChecks":[{"ID":"c","Namespace":"default"}],"Behavior":"Release","TTL":"30s"}`, 0),
		seed("empty-object", "", `{}`, 0),
		seed("no-body", "", ``, 0),
		seed("no-checks", "", `{"Checks":[]}`, 1),
		seed("delete", "", `{"Behavior":"DELETE","TTL":"10s"}`, 0),
		seed("lock-delay-seconds", "", `{"LockDelay":10}`, 0),
		seed("lock-delay-nanos", "", `{"LockDelay":15000000000}`, 0),
		seed("lock-delay-negative", "", `{"LockDelay":"-5s"}`, 0),
		seed("lock-delay-huge", "", `{"LockDelay":1e30}`, 0),
		seed("lock-delay-bool", "", `{"LockDelay":true}`, 0),
		seed("lock-delay-null", "", `{"LockDelay":null}`, 0),
		seed("bad-ttl", "", `{"TTL":"soon"}`, 0),
		seed("go-client", "", `{"LockDelay":"15000ms","Behavior":"release","TTL":"15s","Name":"Consul API Lock"}`, 0),
		seed("backend-refuses", "", `{"TTL":"1s"}`, 2),
		seed("bad-dc", "dc=x%00y", `{}`, 0),
		seed("not-json", "", `[`, 0),
		seed("wrong-types", "", `{"Checks":"serfHealth"}`, 0),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, query string, body []byte, mode byte) {
		fz.serve(t, http.MethodPut, "/v1/session/create", query, body, mode)
	})
}

// FuzzPreparedQueryBody sends any body to POST /v1/query: whatever it
// is, the answer is a status with a one-line reason or the new ID, and
// what reaches the backend is a create without an ID.
func FuzzPreparedQueryBody(f *testing.F) {
	seed := func(name, query, body string, mode byte) fuzzSeed {
		return fuzzSeed{name, []any{query, []byte(body), mode}}
	}
	addFuzzSeeds(f, "FuzzPreparedQueryBody", []fuzzSeed{
		seed("go-client", "", `{"ID":"","Name":"pay","Session":"","Token":"","Service":{"Service":"pay","Near":"_agent",
"Failover":{"NearestN":2,"Datacenters":["dc2"],"Targets":null},"IgnoreCheckIDs":null,"OnlyPassing":true,"Tags":["v1","!old"],
"NodeMeta":{"rack":"a"},"ServiceMeta":null,"Connect":false},"DNS":{"TTL":"10s"},"Template":{"Type":"","Regexp":"","RemoveEmptyTags":false}}`, 0),
		seed("template", "", `{"Name":"geo-","Template":{"Type":"name_prefix_match","Regexp":"^geo-(.*)$"},"Service":{"Service":"${match(1)}"}}`, 0),
		seed("targets", "", `{"Service":{"Service":"a","Failover":{"Targets":[{"Datacenter":"dc3"},{"Peer":"p"}]}}}`, 0),
		seed("target-no-dc", "", `{"Service":{"Service":"a","Failover":{"Targets":[{"Namespace":"default"}]}}}`, 0),
		seed("connect", "", `{"Service":{"Service":"a","Connect":true}}`, 0),
		seed("unknown-field", "", `{"Service":{"Service":"a","Colour":1}}`, 0),
		seed("huge-nearest", "", `{"Service":{"Service":"a","Failover":{"NearestN":99999999999}}}`, 0),
		seed("two-objects", "", `{}{}`, 0),
		seed("no-body", "", ``, 0),
		seed("null", "", `null`, 0),
		seed("backend-refuses", "", `{"Service":{"Service":""}}`, 2),
		seed("bad-dc", "dc=x%00y", `{"Service":{"Service":"a"}}`, 0),
		seed("not-json", "", `{"Name":`, 0),
		// Found by the fuzzer: an empty failover datacenter reached the
		// backend.
		seed("empty-failover-dc", "", `{"ServiCe":{"FAilover":{"DAtACenters":[""]}}}`, 0x11),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, query string, body []byte, mode byte) {
		fz.serve(t, http.MethodPost, "/v1/query", query, body, mode)
	})
}

// FuzzAgentServiceRegisterBody sends any body to PUT
// /v1/agent/service/register: a refused registration must leave the
// agent's state empty, an accepted one must leave a service.
func FuzzAgentServiceRegisterBody(f *testing.F) {
	seed := func(name, query, body string) fuzzSeed { return fuzzSeed{name, []any{query, []byte(body)}} }
	addFuzzSeeds(f, "FuzzAgentServiceRegisterBody", []fuzzSeed{
		seed("consul-example", "", `{"ID":"redis1","Name":"redis","Tags":["primary","v1"],"Address":"127.0.0.1","Port":8000,
"Meta":{"redis_version":"4.0"},"EnableTagOverride":false,"Check":{"DeregisterCriticalServiceAfter":"90m",
"Args":["/usr/local/bin/check_redis.py"],"Interval":"10s","Timeout":"5s"},"Weights":{"Passing":10,"Warning":1}}`),
		seed("http-check", "replace-existing-checks", `{"Name":"web","Check":{"HTTP":"http://127.0.0.1:5000/health","Interval":"10s","Header":{"X":["y"]}}}`),
		seed("checks", "", `{"Name":"web","Checks":[{"Name":"ttl","TTL":"15s"},{"TCP":"127.0.0.1:1","Interval":"1s"},{"GRPC":"127.0.0.1:1","Interval":"1s"},{"UDP":"127.0.0.1:1","Interval":"1s"}]}`),
		seed("snake-case", "", `{"name":"web","check":{"ttl":"10s","deregister_critical_service_after":"1m","service_id":"x"}}`),
		seed("no-name", "", `{"ID":"x"}`),
		seed("bad-address", "", `{"Name":"x","Address":"0.0.0.0"}`),
		seed("bad-port", "", `{"Name":"x","Port":70000}`),
		seed("bad-weights", "", `{"Name":"x","Weights":{"Passing":0}}`),
		seed("bad-meta", "", `{"Name":"x","Meta":{"consul-x":"y"}}`),
		seed("bad-check", "", `{"Name":"x","Check":{"Interval":"10s"}}`),
		seed("bad-duration", "", `{"Name":"x","Check":{"TTL":"soon"}}`),
		seed("number-duration", "", `{"Name":"x","Check":{"TTL":10000000000}}`),
		seed("not-json", "", `{"Name"`),
		seed("null", "", `null`),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		l := fz.freshLocal(t)
		w := fz.serve(t, http.MethodPut, "/v1/agent/service/register", query, body, 0)
		services, checks := len(l.State().Services()), len(l.State().Checks())
		if w.Code == http.StatusOK && services == 0 {
			t.Fatalf("registration accepted (%q), no service registered", body)
		}
		if w.Code != http.StatusOK && (services != 0 || checks != 0) {
			t.Fatalf("registration refused with %d, yet %d services and %d checks registered", w.Code, services, checks)
		}
	})
}

// FuzzAgentCheckRegisterBody sends any body to PUT /v1/agent/check/register
// on an agent with one service ("web"): a refused registration must add no
// check, an accepted one must add one.
func FuzzAgentCheckRegisterBody(f *testing.F) {
	seed := func(name, query, body string) fuzzSeed { return fuzzSeed{name, []any{query, []byte(body)}} }
	addFuzzSeeds(f, "FuzzAgentCheckRegisterBody", []fuzzSeed{
		seed("ttl", "", `{"ID":"mem","Name":"Memory utilization","Notes":"Ensure we don't oversubscribe memory","TTL":"15s","Status":"passing"}`),
		seed("service-http", "", `{"Name":"api","ServiceID":"web","HTTP":"https://127.0.0.1:5000/health","Method":"POST","Body":"{}","TLSSkipVerify":true,"Interval":"10s","Timeout":"1s"}`),
		seed("tcp", "", `{"Name":"tcp","TCP":"127.0.0.1:22","Interval":"10s","SuccessBeforePassing":2,"FailuresBeforeCritical":3}`),
		seed("script-disabled", "", `{"Name":"script","Args":["/bin/true"],"Interval":"10s"}`),
		seed("unknown-service", "", `{"Name":"x","ServiceID":"nope","TTL":"10s"}`),
		seed("no-name", "", `{"TTL":"10s"}`),
		seed("no-type", "", `{"Name":"x"}`),
		seed("bad-status", "", `{"Name":"x","TTL":"10s","Status":"sick"}`),
		seed("negative-interval", "", `{"Name":"x","TCP":"127.0.0.1:1","Interval":"-1s"}`),
		seed("snake-case", "", `{"name":"x","service_id":"web","ttl":"10s"}`),
		seed("not-json", "", `}`),
	})
	fz := newFuzzAgent(f)
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		l := fz.freshLocal(t, &pb.Service{Id: "web", Service: "web"})
		w := fz.serve(t, http.MethodPut, "/v1/agent/check/register", query, body, 0)
		checks := len(l.State().Checks())
		if w.Code == http.StatusOK && checks == 0 {
			t.Fatalf("check accepted (%q), none registered", body)
		}
		if w.Code != http.StatusOK && checks != 0 {
			t.Fatalf("check refused with %d, yet %d registered", w.Code, checks)
		}
	})
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Consul's default limits, which the agent enforces.
const (
	kvMaxValueSize = 512 * 1024
	txnMaxOps      = 128
)

// rawHTTP sends one request to p's HTTP API and returns the status and
// body.
func rawHTTP(t *testing.T, p *agentProc, method, pathAndQuery string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.HTTPAddr+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, pathAndQuery, err)
	}
	resp, err := p.httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, pathAndQuery, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, pathAndQuery, err)
	}
	return resp.StatusCode, string(out)
}

// txnSets is a /v1/txn body of n set operations under prefix.
func txnSets(t *testing.T, prefix string, n int) []byte {
	t.Helper()
	type kvOp struct{ Verb, Key, Value string }
	ops := make([]map[string]kvOp, n)
	for i := range ops {
		ops[i] = map[string]kvOp{"KV": {Verb: "set", Key: fmt.Sprintf("%s%03d", prefix, i), Value: "eA=="}}
	}
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadInputOverHTTP(t *testing.T) {
	e := newEnv(t)
	server := e.startServers(1)[0]
	e.waitLeader(startTimeout, "", server)

	// The limits are inclusive: a value of exactly the maximum size and a
	// transaction of exactly the maximum number of operations pass.
	seed := []struct {
		method, path string
		body         []byte
	}{
		{"PUT", "/v1/kv/seed/plain", []byte("plain")},
		{"PUT", "/v1/kv/seed/max-value", bytes.Repeat([]byte("m"), kvMaxValueSize)},
		{"PUT", "/v1/txn", txnSets(t, "seed/txn/", txnMaxOps)},
	}
	for _, s := range seed {
		if code, body := rawHTTP(t, server, s.method, s.path, s.body); code != http.StatusOK {
			t.Fatalf("seed %s %s (%d bytes): %d %q", s.method, s.path, len(s.body), code, body)
		}
	}
	listAll := func() string {
		code, body := rawHTTP(t, server, "GET", "/v1/kv/?recurse&consistent", nil)
		if code != http.StatusOK {
			t.Fatalf("list the store: %d %q", code, body)
		}
		return body
	}
	before := listAll()

	tooBig := bytes.Repeat([]byte("b"), kvMaxValueSize+1)
	cases := []struct {
		name         string
		method, path string
		body         []byte
		wantCode     int
		wantContains string
	}{
		{"malformed txn JSON", "PUT", "/v1/txn", []byte(`[{"KV": {"Verb": "set", "Key": "bad/json"`), 400, ""},
		{"txn body not a list", "PUT", "/v1/txn", []byte(`{"KV": 1}`), 400, ""},
		{"txn unknown verb", "PUT", "/v1/txn", []byte(`[{"KV": {"Verb": "explode", "Key": "bad/verb"}}]`), 400, ""},
		{"value one byte too large", "PUT", "/v1/kv/bad/big", tooBig, 413, ""},
		{"txn with too many ops", "PUT", "/v1/txn", txnSets(t, "bad/txn/", txnMaxOps+1), 413, ""},
		{"txn body too large", "PUT", "/v1/txn",
			[]byte(fmt.Sprintf(`[{"KV": {"Verb": "set", "Key": "bad/txn-big", "Value": %q}}]`, bytes.Repeat([]byte("A"), kvMaxValueSize*4/3+8))), 413, ""},
		{"index not a number", "GET", "/v1/kv/seed/plain?index=abc", nil, 400, "Invalid index"},
		{"wait not a duration", "GET", "/v1/kv/seed/plain?wait=xyz", nil, 400, "Invalid wait time"},
		{"read from unknown dc", "GET", "/v1/kv/seed/plain?dc=nosuchdc", nil, 500, "No path to datacenter"},
		{"write to unknown dc", "PUT", "/v1/kv/bad/dc?dc=nosuchdc", []byte("x"), 500, "No path to datacenter"},
		{"put without key", "PUT", "/v1/kv/", []byte("x"), 400, ""},
		{"delete without key", "DELETE", "/v1/kv/", nil, 400, ""},
		{"cas not a number", "PUT", "/v1/kv/bad/cas?cas=abc", []byte("x"), 400, ""},
		{"flags not a number", "PUT", "/v1/kv/bad/flags?flags=-1", []byte("x"), 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := rawHTTP(t, server, c.method, c.path, c.body)
			if code != c.wantCode || !strings.Contains(body, c.wantContains) {
				t.Errorf("%s %s: %d %q, want %d containing %q", c.method, c.path, code, truncate(body, 200), c.wantCode, c.wantContains)
			}
		})
	}

	if after := listAll(); after != before {
		t.Errorf("the store changed under refused requests:\nbefore %s\nafter  %s", truncate(before, 400), truncate(after, 400))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("...(%d bytes)", len(s))
}

package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/agent/watch"
	"github.com/meridian-io/meridian/internal/tlsconf"
)

func TestParseHTTPAddr(t *testing.T) {
	cases := []struct {
		in, want string
		wantErr  string
	}{
		{in: "127.0.0.1:8500", want: "http://127.0.0.1:8500"},
		{in: "http://10.0.0.1:8500", want: "http://10.0.0.1:8500"},
		{in: "https://agent.example:8501", want: "https://agent.example:8501"},
		{in: " http://h:1/ ", want: "http://h:1"},
		{in: "http://h:1/consul/", want: "http://h:1/consul"},
		{in: "[::1]:8500", want: "http://[::1]:8500"},
		{in: "unix:///tmp/agent.sock", wantErr: `unsupported scheme "unix"`},
		{in: "http://:8500", wantErr: "missing host"},
		{in: "http://h:port", wantErr: "invalid HTTP address"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			u, err := watch.ParseAddr(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := u.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHTTPAddrPrecedence: -http-addr beats MERIDIAN_HTTP_ADDR beats
// CONSUL_HTTP_ADDR beats 127.0.0.1:8500.
func TestHTTPAddrPrecedence(t *testing.T) {
	cases := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{"default", "", nil, "http://127.0.0.1:8500"},
		{"consul env", "", map[string]string{"CONSUL_HTTP_ADDR": "c:1"}, "http://c:1"},
		{"meridian env beats consul", "", map[string]string{"CONSUL_HTTP_ADDR": "c:1", "MERIDIAN_HTTP_ADDR": "https://m:2"}, "https://m:2"},
		{"flag beats env", "f:3", map[string]string{"CONSUL_HTTP_ADDR": "c:1", "MERIDIAN_HTTP_ADDR": "m:2"}, "http://f:3"},
		{"blank env ignored", "", map[string]string{"MERIDIAN_HTTP_ADDR": "  ", "CONSUL_HTTP_ADDR": "c:1"}, "http://c:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := httpFlags{addr: tc.flag}
			c, err := h.client(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if got := c.config.Scheme + "://" + c.config.Address; got != tc.want {
				t.Errorf("base = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHTTPAddrReachesAgent checks the precedence end to end: the flag's
// agent gets the request even though the environment names another one.
func TestHTTPAddrReachesAgent(t *testing.T) {
	viaFlag := newFakeAgent(t, fakeAlways(fakeReply{body: "[]"}))
	viaEnv := newFakeAgent(t, fakeAlways(fakeReply{body: "[]"}))
	res := runCLI(t, viaEnv, map[string]string{"CONSUL_HTTP_ADDR": "127.0.0.1:1"}, "",
		"catalog", "datacenters", "-http-addr="+strings.TrimPrefix(viaFlag.url, "http://"))
	if res.code != exitOK {
		t.Fatalf("code %d: %s", res.code, res.stderr)
	}
	if len(viaFlag.requests()) != 1 || len(viaEnv.requests()) != 0 {
		t.Errorf("flag agent saw %d, env agent saw %d requests; want 1 and 0", len(viaFlag.requests()), len(viaEnv.requests()))
	}

	res = runCLI(t, viaEnv, map[string]string{"CONSUL_HTTP_ADDR": viaFlag.url}, "", "catalog", "datacenters")
	if res.code != exitOK || len(viaEnv.requests()) != 1 || len(viaFlag.requests()) != 1 {
		t.Errorf("MERIDIAN_HTTP_ADDR did not win over CONSUL_HTTP_ADDR: code %d, %d/%d requests",
			res.code, len(viaEnv.requests()), len(viaFlag.requests()))
	}
}

func TestTokenPrecedence(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"none", nil, nil, ""},
		{"consul env", nil, map[string]string{"CONSUL_HTTP_TOKEN": "c"}, "c"},
		{"meridian env", nil, map[string]string{"CONSUL_HTTP_TOKEN": "c", "MERIDIAN_HTTP_TOKEN": "m"}, "m"},
		{"flag", []string{"-token=f"}, map[string]string{"CONSUL_HTTP_TOKEN": "c", "MERIDIAN_HTTP_TOKEN": "m"}, "f"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(fakeReply{body: "[]"}))
			res := runCLI(t, agent, tc.env, "", append([]string{"catalog", "datacenters"}, tc.args...)...)
			if res.code != exitOK {
				t.Fatalf("code %d: %s", res.code, res.stderr)
			}
			if got := agent.only(t).Token; got != tc.want {
				t.Errorf("X-Consul-Token = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDatacenterAndStale: -datacenter and its alias -dc add ?dc=; -stale
// adds ?stale on reads.
func TestDatacenterAndStale(t *testing.T) {
	cases := []struct {
		args      []string
		wantQuery string
	}{
		{[]string{"kv", "get", "k"}, ""},
		{[]string{"kv", "get", "-datacenter=dc2", "k"}, "dc=dc2"},
		{[]string{"kv", "get", "-dc=dc3", "-stale", "k"}, "dc=dc3&stale="},
		{[]string{"kv", "export", "-stale", "p"}, "recurse=&stale="},
		{[]string{"operator", "raft", "list-peers", "-stale"}, "stale="},
		{[]string{"catalog", "nodes", "-stale", "-dc=dc2"}, "dc=dc2&stale="},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(fakeReply{body: `[{"Key":"k","Servers":[]}]`}))
			runCLI(t, agent, nil, "", tc.args...)
			if got := agent.only(t).Query.Encode(); got != tc.wantQuery {
				t.Errorf("query = %q, want %q", got, tc.wantQuery)
			}
		})
	}
}

func TestStaleIsNotAWriteFlag(t *testing.T) {
	agent := newFakeAgent(t, fakeAlways(fakeReply{body: "true"}))
	res := runCLI(t, agent, nil, "", "kv", "put", "-stale", "k", "v")
	assertOneLineError(t, res, exitUsage, "flag provided but not defined: -stale")
}

// TestServerErrorIsOneLine: a non-200 answer becomes one line with Consul's
// wording and a non-zero exit, whatever the body holds.
func TestServerErrorIsOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"kv", "get", "k"}, "Error querying agent: Unexpected response code: 500 (No cluster leader)"},
		{[]string{"kv", "put", "k", "v"}, "Error! Failed writing data: Unexpected response code: 500 (No cluster leader)"},
		{[]string{"kv", "delete", "k"}, "Error deleting key k: Unexpected response code: 500 (No cluster leader)"},
		{[]string{"kv", "export"}, "Error querying agent: Unexpected response code: 500"},
		{[]string{"members"}, "Error retrieving members: Unexpected response code: 500 (No cluster leader)"},
		{[]string{"leave"}, "Error leaving: Unexpected response code: 500"},
		{[]string{"info"}, "Error querying agent: Unexpected response code: 500"},
		{[]string{"reload"}, "Error reloading: Unexpected response code: 500"},
		{[]string{"force-leave", "n1"}, "Error force leaving: Unexpected response code: 500"},
		{[]string{"operator", "raft", "list-peers"}, "Error getting peers: Unexpected response code: 500 (No cluster leader)"},
		{[]string{"operator", "raft", "remove-peer", "-id=x"}, "Error removing peer: Unexpected response code: 500"},
		{[]string{"catalog", "datacenters"}, "Error listing datacenters: Unexpected response code: 500"},
		{[]string{"catalog", "nodes"}, "Error listing nodes: Unexpected response code: 500"},
		{[]string{"catalog", "services"}, "Error listing services: Unexpected response code: 500"},
	}
	agent := newFakeAgent(t, fakeAlways(fakeReply{status: http.StatusInternalServerError, body: "No cluster leader\n"}))
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			assertOneLineError(t, runCLI(t, agent, nil, "", tc.args...), exitError, tc.want)
		})
	}
}

func TestMultiLineServerBodyIsFolded(t *testing.T) {
	agent := newFakeAgent(t, fakeAlways(fakeReply{status: http.StatusForbidden, body: "Permission denied:\r\nanonymous token lacks permission\n"}))
	res := runCLI(t, agent, nil, "", "kv", "get", "k")
	assertOneLineError(t, res, exitError,
		"Error querying agent: Unexpected response code: 403 (Permission denied: anonymous token lacks permission)")
}

func TestUnreachableAgentIsOneLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	res := runCLI(t, nil, nil, "", "kv", "get", "-http-addr="+addr, "k")
	assertOneLineError(t, res, exitError, "Error querying agent: ")
	if !strings.Contains(res.stderr, addr) {
		t.Errorf("stderr %q does not name the address", res.stderr)
	}
}

func TestPathPrefixAndEscaping(t *testing.T) {
	agent := newFakeAgent(t, fakeAlways(fakeReply{body: `[{"Key":"a b?c","Value":"eA=="}]`}))
	res := runCLI(t, agent, nil, "", "kv", "get", "-http-addr="+agent.url+"/proxy/", "a b?c%d")
	if res.code != exitOK || res.stdout != "x\n" {
		t.Fatalf("code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}
	if got := agent.only(t).Path; got != "/proxy/v1/kv/a%20b%3Fc%25d" {
		t.Errorf("path = %q", got)
	}
}

// TestClientTLSSettings: -ca-file and friends beat MERIDIAN_* beat
// CONSUL_*; CONSUL_HTTP_SSL makes an address without a scheme https.
func TestClientTLSSettings(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsconf.CreateCA(tlsconf.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Sign(tlsconf.CertOptions{Datacenter: "dc1"})
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, certFile, keyFile := file("ca.pem", ca.CertPEM), file("cert.pem", cert), file("key.pem", key)
	env := map[string]string{
		"CONSUL_HTTP_SSL": "true", "CONSUL_CACERT": "/nowhere/ca.pem", "MERIDIAN_CACERT": caFile,
		"CONSUL_CLIENT_CERT": "/nowhere/cert.pem", "CONSUL_CLIENT_KEY": keyFile, "CONSUL_TLS_SERVER_NAME": "server.dc1.consul",
	}
	getenv := func(k string) string { return env[k] }
	h := httpFlags{addr: "127.0.0.1:8501", clientCert: certFile}
	c, err := h.client(getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	tc := c.config.TLSConfig
	if c.config.Scheme != "https" || tc.CAFile != caFile || tc.CertFile != certFile || tc.KeyFile != keyFile || tc.Address != "server.dc1.consul" {
		t.Errorf("scheme %q, tls %+v", c.config.Scheme, tc)
	}
	delete(env, "CONSUL_CLIENT_KEY")
	if _, err := h.client(getenv); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("a certificate without its key: %v", err)
	}
	env["CONSUL_HTTP_SSL"] = "maybe"
	if _, err := (&httpFlags{}).client(getenv); err == nil || !strings.Contains(err.Error(), "CONSUL_HTTP_SSL") {
		t.Errorf("CONSUL_HTTP_SSL=maybe: %v", err)
	}
}

package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// seenRequest is what the fake agent recorded of one request.
type seenRequest struct {
	Method      string
	Path        string // as sent, still escaped
	Query       url.Values
	Body        string
	Token       string
	ContentType string
}

// fakeReply is the fake agent's answer; status 0 means 200.
type fakeReply struct {
	status int
	body   string
}

// fakeAgent is an httptest stand-in for the agent's HTTP API. It records
// every request and answers with reply.
type fakeAgent struct {
	url   string
	mu    sync.Mutex
	seen  []seenRequest
	reply func(seenRequest) fakeReply
}

func newFakeAgent(t *testing.T, reply func(seenRequest) fakeReply) *fakeAgent {
	t.Helper()
	f := &fakeAgent{reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := seenRequest{
			Method:      r.Method,
			Path:        r.URL.EscapedPath(),
			Query:       r.URL.Query(),
			Body:        string(body),
			Token:       r.Header.Get("X-Consul-Token"),
			ContentType: r.Header.Get("Content-Type"),
		}
		f.mu.Lock()
		f.seen = append(f.seen, req)
		f.mu.Unlock()
		rep := f.reply(req)
		// The headers the agent sets on every answer to a read.
		w.Header().Set("X-Consul-Index", "1")
		w.Header().Set("X-Consul-LastContact", "0")
		w.Header().Set("X-Consul-KnownLeader", "true")
		if rep.status == 0 {
			rep.status = http.StatusOK
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// fakeRoutes answers "METHOD /path" from table (the path as sent, escaped) and
// 404s everything else the way the agent does.
func fakeRoutes(table map[string]fakeReply) func(seenRequest) fakeReply {
	return func(r seenRequest) fakeReply {
		if rep, ok := table[r.Method+" "+r.Path]; ok {
			return rep
		}
		return fakeReply{status: http.StatusNotFound, body: "Invalid URL path: not a recognized HTTP API endpoint"}
	}
}

// fakeAlways answers every request with rep.
func fakeAlways(rep fakeReply) func(seenRequest) fakeReply {
	return func(seenRequest) fakeReply { return rep }
}

func (f *fakeAgent) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// only returns the single request the command made.
func (f *fakeAgent) only(t *testing.T) seenRequest {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("agent saw %d requests, want 1: %+v", len(reqs), reqs)
	}
	return reqs[0]
}

type cliResult struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs the command line against agent (unless env already names an
// address) with stdin and the given environment.
func runCLI(t *testing.T, agent *fakeAgent, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	vars := map[string]string{}
	if agent != nil {
		vars["MERIDIAN_HTTP_ADDR"] = agent.url
	}
	for k, v := range env {
		vars[k] = v
	}
	var stdout, stderr strings.Builder
	code := run(args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return vars[k] })
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// assertOneLineError checks a failure: the code, and exactly one line on
// stderr containing want.
func assertOneLineError(t *testing.T, res cliResult, code int, want string) {
	t.Helper()
	if res.code != code {
		t.Errorf("exit code = %d, want %d (stderr %q)", res.code, code, res.stderr)
	}
	if strings.Count(res.stderr, "\n") != 1 || !strings.HasSuffix(res.stderr, "\n") {
		t.Errorf("stderr is not one line: %q", res.stderr)
	}
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", res.stderr, want)
	}
}

func TestTopLevelDispatch(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"no args", nil, exitError, "", "Available commands are:"},
		{"unknown", []string{"frobnicate"}, exitError, "", `Unknown command: "frobnicate"`},
		{"help", []string{"-h"}, exitOK, "Available commands are:", ""},
		{"--help", []string{"--help"}, exitOK, "    kv ", ""},
		{"group without sub", []string{"kv"}, exitError, "", "Usage: meridian kv <subcommand>"},
		{"group unknown sub", []string{"operator", "raft", "nope"}, exitError, "", `Unknown command: "operator raft nope"`},
		{"group help", []string{"catalog", "-h"}, exitOK, "datacenters", ""},
		{"version", []string{"version"}, exitOK, "Meridian v" + version + "\nProtocol 2 spoken by default", ""},
		{"--version", []string{"--version"}, exitOK, "Meridian v" + version + "\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, nil, nil, "", tc.args...)
			if res.code != tc.code {
				t.Errorf("code = %d, want %d", res.code, tc.code)
			}
			if tc.wantStdout == "" && res.stdout != "" || !strings.Contains(res.stdout, tc.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", res.stdout, tc.wantStdout)
			}
			if tc.wantStderr == "" && res.stderr != "" || !strings.Contains(res.stderr, tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tc.wantStderr)
			}
		})
	}
}

func TestTopLevelUsageListsEveryCommand(t *testing.T) {
	res := runCLI(t, nil, nil, "", "-h")
	for name := range topLevelCommands() {
		if !strings.Contains(res.stdout, "\n    "+name+" ") {
			t.Errorf("usage does not list %q:\n%s", name, res.stdout)
		}
	}
}

// TestEveryCommandHasHelp runs each leaf command with -h: help on stdout,
// exit 0, nothing sent to the agent.
func TestEveryCommandHasHelp(t *testing.T) {
	agent := newFakeAgent(t, fakeAlways(fakeReply{}))
	for _, path := range []string{
		"version", "members", "join", "leave", "force-leave", "info", "reload",
		"kv get", "kv put", "kv delete", "kv export", "kv import",
		"operator raft list-peers", "operator raft remove-peer", "operator raft transfer-leader",
		"operator autopilot get-config", "operator autopilot set-config", "operator autopilot state",
		"catalog datacenters", "catalog nodes", "catalog services", "rtt",
	} {
		t.Run(path, func(t *testing.T) {
			res := runCLI(t, agent, nil, "", append(strings.Fields(path), "-h")...)
			if res.code != exitOK || res.stderr != "" {
				t.Errorf("code = %d, stderr = %q", res.code, res.stderr)
			}
			if !strings.HasPrefix(res.stdout, "Usage: meridian "+path) {
				t.Errorf("help does not start with the usage line:\n%s", res.stdout)
			}
		})
	}
	if n := len(agent.requests()); n != 0 {
		t.Errorf("help sent %d requests to the agent", n)
	}
}

// TestBadUsageExitsTwo: usage errors are one line on stderr, exit 2, and
// reach no agent.
func TestBadUsageExitsTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"kv", "get", "-nope", "k"}, "flag provided but not defined: -nope"},
		{[]string{"kv", "get"}, "Missing KEY argument"},
		{[]string{"kv", "get", "a", "b"}, "Too many arguments (expected 1, got 2)"},
		{[]string{"kv", "put"}, "Missing KEY argument"},
		{[]string{"kv", "put", "", "v"}, "Missing KEY argument"},
		{[]string{"kv", "put", "k", "v", "extra"}, "Too many arguments (expected 1 or 2, got 3)"},
		{[]string{"kv", "put", "-flags=x", "k"}, `invalid value "x" for flag -flags`},
		{[]string{"kv", "put", "-cas", "k", "v"}, "Must specify -modify-index with -cas"},
		{[]string{"kv", "put", "-modify-index=3", "k", "v"}, "Cannot specify -modify-index without -cas"},
		{[]string{"kv", "put", "-acquire", "k"}, "Missing -session"},
		{[]string{"kv", "put", "-acquire", "-release", "-session=s", "k"}, "Cannot specify both -acquire and -release"},
		{[]string{"kv", "put", "-cas", "-modify-index=1", "-acquire", "-session=s", "k"}, "Cannot combine -cas"},
		{[]string{"kv", "put", "/k", "v"}, "Key must not begin with a '/'"},
		{[]string{"kv", "delete"}, "Missing KEY argument"},
		{[]string{"kv", "delete", "-recurse", "-cas", "-modify-index=2", "p"}, "Cannot specify both -cas and -recurse"},
		{[]string{"kv", "delete", "-cas", "k"}, "Provide a -modify-index greater than 0"},
		{[]string{"kv", "delete", "-modify-index=2", "k"}, "Cannot specify -modify-index without -cas"},
		{[]string{"kv", "export", "a", "b"}, "Too many arguments"},
		{[]string{"kv", "import"}, "Missing DATA argument"},
		{[]string{"kv", "import", ""}, "Empty DATA argument"},
		{[]string{"members", "-status=("}, "Failed to compile status regexp"},
		{[]string{"members", "extra"}, "Too many arguments"},
		{[]string{"join"}, "At least one address to join must be specified."},
		{[]string{"leave", "now"}, "unexpected args"},
		{[]string{"force-leave"}, "A single node name must be specified"},
		{[]string{"info", "x"}, "Too many arguments"},
		{[]string{"reload", "x"}, "Too many arguments"},
		{[]string{"version", "x"}, "Too many arguments"},
		{[]string{"operator", "raft", "remove-peer"}, "an address or id is required"},
		{[]string{"operator", "raft", "remove-peer", "-id=a", "-address=b:1"}, "cannot give both an address and id"},
		{[]string{"operator", "raft", "list-peers", "x"}, "Too many arguments"},
		{[]string{"catalog", "nodes", "-node-meta=novalue"}, `"novalue" is not key:value`},
		{[]string{"catalog", "services", "x"}, "Too many arguments"},
		{[]string{"kv", "get", "-http-addr=ftp://h:1", "k"}, `unsupported scheme "ftp"`},
	}
	agent := newFakeAgent(t, fakeAlways(fakeReply{body: "true"}))
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runCLI(t, agent, nil, "", tc.args...)
			assertOneLineError(t, res, exitUsage, tc.want)
			if res.stdout != "" {
				t.Errorf("stdout = %q, want empty", res.stdout)
			}
		})
	}
	if reqs := agent.requests(); len(reqs) != 0 {
		t.Errorf("usage errors reached the agent: %+v", reqs)
	}
}

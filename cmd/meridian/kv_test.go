package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kvCase is one kv command line, the request it must send, what the fake
// agent answers and what the command must print.
type kvCase struct {
	name  string
	args  []string
	stdin string
	reply fakeReply

	method, path, query, body string

	code       int
	stdout     string
	stderrHas  string // "" means stderr must be empty
	wantHeader string // expected Content-Type, when set
}

func runKVCases(t *testing.T, cases []kvCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(tc.reply))
			res := runCLI(t, agent, nil, tc.stdin, tc.args...)
			req := agent.only(t)
			if req.Method != tc.method || req.Path != tc.path || req.Query.Encode() != tc.query || req.Body != tc.body {
				t.Errorf("request = %s %s ?%s body %q; want %s %s ?%s body %q",
					req.Method, req.Path, req.Query.Encode(), req.Body, tc.method, tc.path, tc.query, tc.body)
			}
			if tc.wantHeader != "" && req.ContentType != tc.wantHeader {
				t.Errorf("Content-Type = %q, want %q", req.ContentType, tc.wantHeader)
			}
			if res.code != tc.code {
				t.Errorf("code = %d, want %d (stderr %q)", res.code, tc.code, res.stderr)
			}
			if res.stdout != tc.stdout {
				t.Errorf("stdout:\n%q\nwant:\n%q", res.stdout, tc.stdout)
			}
			switch {
			case tc.stderrHas == "" && res.stderr != "":
				t.Errorf("stderr = %q, want empty", res.stderr)
			case tc.stderrHas != "":
				assertOneLineError(t, res, tc.code, tc.stderrHas)
			}
		})
	}
}

const (
	pairFoo = `{"LockIndex":2,"Key":"foo","Flags":42,"Value":"YmFy","Session":"s-1","CreateIndex":5,"ModifyIndex":9}`
	pairA   = `{"LockIndex":0,"Key":"app/a","Flags":0,"Value":"MQ==","CreateIndex":3,"ModifyIndex":3}`
	pairB   = `{"LockIndex":0,"Key":"app/b","Flags":7,"Value":null,"CreateIndex":4,"ModifyIndex":6}`
)

func TestKVGet(t *testing.T) {
	runKVCases(t, []kvCase{
		{
			name: "value", args: []string{"kv", "get", "foo"}, reply: fakeReply{body: "[" + pairFoo + "]"},
			method: "GET", path: "/v1/kv/foo", stdout: "bar\n",
		},
		{
			name: "leading slash stripped", args: []string{"kv", "get", "/foo"}, reply: fakeReply{body: "[" + pairFoo + "]"},
			method: "GET", path: "/v1/kv/foo", stdout: "bar\n",
		},
		{
			name: "base64", args: []string{"kv", "get", "-base64", "foo"}, reply: fakeReply{body: "[" + pairFoo + "]"},
			method: "GET", path: "/v1/kv/foo", stdout: "YmFy\n",
		},
		{
			name: "missing key", args: []string{"kv", "get", "nope"}, reply: fakeReply{status: http.StatusNotFound},
			method: "GET", path: "/v1/kv/nope", code: exitError, stderrHas: "Error! No key exists at: nope",
		},
		{
			name: "detailed", args: []string{"kv", "get", "-detailed", "foo"}, reply: fakeReply{body: "[" + pairFoo + "]"},
			method: "GET", path: "/v1/kv/foo",
			stdout: "CreateIndex      5\n" +
				"Flags            42\n" +
				"Key              foo\n" +
				"LockIndex        2\n" +
				"ModifyIndex      9\n" +
				"Session          s-1\n" +
				"Value            bar\n",
		},
		{
			name: "recurse", args: []string{"kv", "get", "-recurse", "app/"}, reply: fakeReply{body: "[" + pairA + "," + pairB + "]"},
			method: "GET", path: "/v1/kv/app/", query: "recurse=", stdout: "app/a:1\napp/b:\n",
		},
		{
			name: "recurse root", args: []string{"kv", "get", "-recurse"}, reply: fakeReply{body: "[" + pairA + "]"},
			method: "GET", path: "/v1/kv/", query: "recurse=", stdout: "app/a:1\n",
		},
		{
			name: "recurse nothing", args: []string{"kv", "get", "-recurse", "none/"}, reply: fakeReply{status: http.StatusNotFound},
			method: "GET", path: "/v1/kv/none/", query: "recurse=", stdout: "",
		},
		{
			name: "recurse detailed", args: []string{"kv", "get", "-recurse", "-detailed", "-base64", "app/"},
			reply:  fakeReply{body: "[" + pairA + "," + pairB + "]"},
			method: "GET", path: "/v1/kv/app/", query: "recurse=",
			stdout: "CreateIndex      3\nFlags            0\nKey              app/a\nLockIndex        0\n" +
				"ModifyIndex      3\nSession          -\nValue            MQ==\n" +
				"\n" +
				"CreateIndex      4\nFlags            7\nKey              app/b\nLockIndex        0\n" +
				"ModifyIndex      6\nSession          -\nValue            \n",
		},
		{
			name: "keys", args: []string{"kv", "get", "-keys", "app/"}, reply: fakeReply{body: `["app/a","app/sub/"]`},
			method: "GET", path: "/v1/kv/app/", query: "keys=&separator=%2F", stdout: "app/a\napp/sub/\n",
		},
		{
			name: "keys no separator", args: []string{"kv", "get", "-keys", "-separator=", ""}, reply: fakeReply{body: `["a","b/c"]`},
			method: "GET", path: "/v1/kv/", query: "keys=", stdout: "a\nb/c\n",
		},
		{
			name: "keys none", args: []string{"kv", "get", "-keys", "zzz"}, reply: fakeReply{status: http.StatusNotFound},
			method: "GET", path: "/v1/kv/zzz", query: "keys=&separator=%2F", stdout: "",
		},
		{
			name: "acl denied", args: []string{"kv", "get", "foo"}, reply: fakeReply{status: http.StatusForbidden, body: "ACL not found"},
			method: "GET", path: "/v1/kv/foo", code: exitError,
			stderrHas: "Error querying agent: Unexpected response code: 403 (ACL not found)",
		},
	})
}

func TestKVPut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "license.lic")
	if err := os.WriteFile(file, []byte("from\nfile"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := fakeReply{body: "true"}
	refused := fakeReply{body: "false"}
	runKVCases(t, []kvCase{
		{
			name: "inline", args: []string{"kv", "put", "config/maxconns", "5"}, reply: ok,
			method: "PUT", path: "/v1/kv/config/maxconns", body: "5", wantHeader: "application/octet-stream",
			stdout: "Success! Data written to: config/maxconns\n",
		},
		{
			name: "empty value", args: []string{"kv", "put", "webapp/beta/active"}, reply: ok,
			method: "PUT", path: "/v1/kv/webapp/beta/active", body: "",
			stdout: "Success! Data written to: webapp/beta/active\n",
		},
		{
			name: "flags", args: []string{"kv", "put", "-flags=42", "k", "v"}, reply: ok,
			method: "PUT", path: "/v1/kv/k", query: "flags=42", body: "v",
			stdout: "Success! Data written to: k\n",
		},
		{
			name: "from file", args: []string{"kv", "put", "lic", "@" + file}, reply: ok,
			method: "PUT", path: "/v1/kv/lic", body: "from\nfile",
			stdout: "Success! Data written to: lic\n",
		},
		{
			name: "from stdin", args: []string{"kv", "put", "lic", "-"}, stdin: "abcd1234\n", reply: ok,
			method: "PUT", path: "/v1/kv/lic", body: "abcd1234\n",
			stdout: "Success! Data written to: lic\n",
		},
		{
			name: "base64", args: []string{"kv", "put", "-base64", "k", "aGVsbG8="}, reply: ok,
			method: "PUT", path: "/v1/kv/k", body: "hello",
			stdout: "Success! Data written to: k\n",
		},
		{
			name: "cas ok", args: []string{"kv", "put", "-cas", "-modify-index=844", "k", "5"}, reply: ok,
			method: "PUT", path: "/v1/kv/k", query: "cas=844", body: "5",
			stdout: "Success! Data written to: k\n",
		},
		{
			name: "cas create-only", args: []string{"kv", "put", "-cas", "-modify-index=0", "k", "5"}, reply: ok,
			method: "PUT", path: "/v1/kv/k", query: "cas=0", body: "5",
			stdout: "Success! Data written to: k\n",
		},
		{
			name: "cas failed", args: []string{"kv", "put", "-cas", "-modify-index=3", "-flags=1", "k", "5"}, reply: refused,
			method: "PUT", path: "/v1/kv/k", query: "cas=3&flags=1", body: "5",
			code: exitError, stderrHas: "Error! Did not write to k: CAS failed",
		},
		{
			name: "cas server error", args: []string{"kv", "put", "-cas", "-modify-index=3", "k", "5"},
			reply:  fakeReply{status: http.StatusInternalServerError, body: "No cluster leader"},
			method: "PUT", path: "/v1/kv/k", query: "cas=3", body: "5",
			code: exitError, stderrHas: "Error! Did not write to k: Unexpected response code: 500 (No cluster leader)",
		},
		{
			name: "acquire", args: []string{"kv", "put", "-acquire", "-session=s-1", "lock", "me"}, reply: ok,
			method: "PUT", path: "/v1/kv/lock", query: "acquire=s-1", body: "me",
			stdout: "Success! Lock acquired on: lock\n",
		},
		{
			name: "acquire refused", args: []string{"kv", "put", "-acquire", "-session=s-1", "lock"}, reply: refused,
			method: "PUT", path: "/v1/kv/lock", query: "acquire=s-1",
			code: exitError, stderrHas: "Error! Did not acquire lock",
		},
		{
			name: "release", args: []string{"kv", "put", "-release", "-session=s-1", "lock"}, reply: ok,
			method: "PUT", path: "/v1/kv/lock", query: "release=s-1",
			stdout: "Success! Lock released on: lock\n",
		},
		{
			name: "release refused", args: []string{"kv", "put", "-release", "-session=s-2", "lock"}, reply: refused,
			method: "PUT", path: "/v1/kv/lock", query: "release=s-2",
			code: exitError, stderrHas: "Error! Did not release lock",
		},
		{
			name: "too large", args: []string{"kv", "put", "k", "v"},
			reply:  fakeReply{status: http.StatusRequestEntityTooLarge, body: "Request body(600000 bytes) too large, max size: 524288 bytes."},
			method: "PUT", path: "/v1/kv/k", body: "v",
			code: exitError, stderrHas: "Error! Failed writing data: Unexpected response code: 413 (Request body(600000 bytes) too large",
		},
	})
}

func TestKVPutInputErrors(t *testing.T) {
	agent := newFakeAgent(t, fakeAlways(fakeReply{body: "true"}))
	res := runCLI(t, agent, nil, "", "kv", "put", "k", "@"+filepath.Join(t.TempDir(), "missing"))
	assertOneLineError(t, res, exitError, "Error! failed to read file:")
	res = runCLI(t, agent, nil, "", "kv", "put", "-base64", "k", "%%%")
	assertOneLineError(t, res, exitError, "Error! Cannot base 64 decode data:")
	if n := len(agent.requests()); n != 0 {
		t.Errorf("bad input reached the agent: %d requests", n)
	}
}

func TestKVDelete(t *testing.T) {
	ok := fakeReply{body: "true"}
	runKVCases(t, []kvCase{
		{
			name: "key", args: []string{"kv", "delete", "foo"}, reply: ok,
			method: "DELETE", path: "/v1/kv/foo", stdout: "Success! Deleted key: foo\n",
		},
		{
			name: "recurse", args: []string{"kv", "delete", "-recurse", "app/"}, reply: ok,
			method: "DELETE", path: "/v1/kv/app/", query: "recurse=", stdout: "Success! Deleted keys with prefix: app/\n",
		},
		{
			name: "recurse everything", args: []string{"kv", "delete", "-recurse"}, reply: ok,
			method: "DELETE", path: "/v1/kv/", query: "recurse=", stdout: "Success! Deleted keys with prefix: \n",
		},
		{
			name: "cas", args: []string{"kv", "delete", "-cas", "-modify-index=9", "foo"}, reply: ok,
			method: "DELETE", path: "/v1/kv/foo", query: "cas=9", stdout: "Success! Deleted key: foo\n",
		},
		{
			name: "cas failed", args: []string{"kv", "delete", "-cas", "-modify-index=8", "foo"}, reply: fakeReply{body: "false"},
			method: "DELETE", path: "/v1/kv/foo", query: "cas=8",
			code: exitError, stderrHas: "Error! Did not delete key foo: CAS failed",
		},
		{
			name: "recurse error", args: []string{"kv", "delete", "-recurse", "p"},
			reply:  fakeReply{status: http.StatusInternalServerError, body: "No cluster leader"},
			method: "DELETE", path: "/v1/kv/p", query: "recurse=",
			code: exitError, stderrHas: "Error! Did not delete prefix p: Unexpected response code: 500 (No cluster leader)",
		},
	})
}

const exportedTree = `[
	{
		"key": "app/a",
		"flags": 0,
		"value": "MQ=="
	},
	{
		"key": "app/b",
		"flags": 7,
		"value": ""
	}
]
`

func TestKVExport(t *testing.T) {
	runKVCases(t, []kvCase{
		{
			name: "prefix", args: []string{"kv", "export", "app/"}, reply: fakeReply{body: "[" + pairA + "," + pairB + "]"},
			method: "GET", path: "/v1/kv/app/", query: "recurse=", stdout: exportedTree,
		},
		{
			name: "empty", args: []string{"kv", "export", "none/"}, reply: fakeReply{status: http.StatusNotFound},
			method: "GET", path: "/v1/kv/none/", query: "recurse=", stdout: "[]\n",
		},
	})
}

// TestKVExportImportRoundTrip exports a tree from one fake agent and imports
// the output into another: the writes must reproduce every key, value and
// flag, with -prefix prepended as is.
func TestKVExportImportRoundTrip(t *testing.T) {
	source := newFakeAgent(t, fakeAlways(fakeReply{body: "[" + pairA + "," + pairB + "," + pairFoo + "]"}))
	exp := runCLI(t, source, nil, "", "kv", "export")
	if exp.code != exitOK {
		t.Fatalf("export: code %d: %s", exp.code, exp.stderr)
	}

	for _, tc := range []struct {
		prefix string
		keys   []string
	}{
		{"", []string{"app/a", "app/b", "foo"}},
		{"copy/", []string{"copy/app/a", "copy/app/b", "copy/foo"}},
	} {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			target := newFakeAgent(t, fakeAlways(fakeReply{body: "true"}))
			imp := runCLI(t, target, nil, exp.stdout, "kv", "import", "-prefix="+tc.prefix, "-")
			if imp.code != exitOK {
				t.Fatalf("import: code %d: %s", imp.code, imp.stderr)
			}
			want := "Imported: " + strings.Join(tc.keys, "\nImported: ") + "\n"
			if imp.stdout != want {
				t.Errorf("import stdout:\n%s\nwant:\n%s", imp.stdout, want)
			}
			reqs := target.requests()
			if len(reqs) != 3 {
				t.Fatalf("import sent %d requests, want 3", len(reqs))
			}
			wantBodies := []string{"1", "", "bar"}
			wantQueries := []string{"", "flags=7", "flags=42"}
			for i, r := range reqs {
				if r.Method != "PUT" || r.Path != "/v1/kv/"+tc.keys[i] || r.Body != wantBodies[i] || r.Query.Encode() != wantQueries[i] {
					t.Errorf("write %d = %s %s ?%s %q; want PUT /v1/kv/%s ?%s %q",
						i, r.Method, r.Path, r.Query.Encode(), r.Body, tc.keys[i], wantQueries[i], wantBodies[i])
				}
			}
		})
	}
}

func TestKVImportSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tree.json")
	if err := os.WriteFile(file, []byte(exportedTree), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, arg, stdin string
	}{
		{"file", "@" + file, ""},
		{"stdin", "-", exportedTree},
		{"inline", exportedTree, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(fakeReply{body: "true"}))
			res := runCLI(t, agent, nil, tc.stdin, "kv", "import", tc.arg)
			if res.code != exitOK || res.stdout != "Imported: app/a\nImported: app/b\n" {
				t.Errorf("code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
			}
			if n := len(agent.requests()); n != 2 {
				t.Errorf("%d writes, want 2", n)
			}
		})
	}
}

func TestKVImportErrors(t *testing.T) {
	cases := []struct {
		name   string
		data   string
		reply  fakeReply
		writes int
		want   string
	}{
		{"not json", "{nope", fakeReply{body: "true"}, 0, "Cannot unmarshal data:"},
		{"bad base64 writes nothing", `[{"key":"a","value":"MQ=="},{"key":"b","value":"%%"}]`, fakeReply{body: "true"}, 0,
			"Error base 64 decoding value for key b:"},
		{"server refuses", `[{"key":"a","value":"MQ=="},{"key":"b","value":""}]`,
			fakeReply{status: http.StatusForbidden, body: "Permission denied"}, 1,
			"Error! Failed writing data for key a: Unexpected response code: 403 (Permission denied)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(tc.reply))
			res := runCLI(t, agent, nil, tc.data, "kv", "import", "-")
			assertOneLineError(t, res, exitError, tc.want)
			if n := len(agent.requests()); n != tc.writes {
				t.Errorf("%d writes, want %d", n, tc.writes)
			}
		})
	}
}

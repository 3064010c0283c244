package main

import (
	"net/http"
	"testing"
)

const membersJSON = `[
 {"Name":"c1","Addr":"10.0.0.3","Port":8301,"Status":1,
  "Tags":{"role":"node","dc":"dc1","build":"0.1.0:abc123","vsn":"2"}},
 {"Name":"s2","Addr":"10.0.0.2","Port":8301,"Status":4,
  "Tags":{"role":"consul","dc":"dc1","build":"0.1.0","vsn":"2","port":"8300"}},
 {"Name":"s1","Addr":"10.0.0.1","Port":8301,"Status":1,
  "Tags":{"role":"server","dc":"dc1","build":"0.1.0","vsn":"2"}},
 {"Name":"x","Addr":"::1","Port":8301,"Status":3,"Tags":{}},
 {"Name":"c0","Addr":"10.0.0.4","Port":8301,"Status":2,
  "Tags":{"role":"client","dc":"dc1","build":"0.1.0","vsn":"2"}}
]`

func TestMembers(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		query  string
		code   int
		stdout string
	}{
		{
			name: "table: servers first, then by name",
			args: []string{"members"},
			stdout: "" +
				"Node  Address        Status   Type     Build  Protocol  DC\n" +
				"s1    10.0.0.1:8301  alive    server   0.1.0  2         dc1\n" +
				"s2    10.0.0.2:8301  failed   server   0.1.0  2         dc1\n" +
				"c0    10.0.0.4:8301  leaving  client   0.1.0  2         dc1\n" +
				"c1    10.0.0.3:8301  alive    client   0.1.0  2         dc1\n" +
				"x     [::1]:8301     left     unknown\n",
		},
		{
			name: "status filter",
			args: []string{"members", "-status=alive|failed"},
			stdout: "" +
				"Node  Address        Status  Type    Build  Protocol  DC\n" +
				"s1    10.0.0.1:8301  alive   server  0.1.0  2         dc1\n" +
				"s2    10.0.0.2:8301  failed  server  0.1.0  2         dc1\n" +
				"c1    10.0.0.3:8301  alive   client  0.1.0  2         dc1\n",
		},
		{
			name: "wan",
			args: []string{"members", "-wan", "-status=^failed$"}, query: "wan=1",
			stdout: "" +
				"Node  Address        Status  Type    Build  Protocol  DC\n" +
				"s2    10.0.0.2:8301  failed  server  0.1.0  2         dc1\n",
		},
		{
			name: "detailed",
			args: []string{"members", "-detailed", "-status=failed|left"},
			stdout: "" +
				"Node  Address        Status  Tags\n" +
				"s2    10.0.0.2:8301  failed  build=0.1.0,dc=dc1,port=8300,role=consul,vsn=2\n" +
				"x     [::1]:8301     left\n",
		},
		{
			name: "no match exits 2 silently",
			args: []string{"members", "-status=none"}, code: exitUsage,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"GET /v1/agent/members": {body: membersJSON}}))
			res := runCLI(t, agent, nil, "", tc.args...)
			if res.code != tc.code || res.stderr != "" {
				t.Errorf("code = %d, want %d; stderr %q", res.code, tc.code, res.stderr)
			}
			if res.stdout != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, tc.stdout)
			}
			if got := agent.only(t).Query.Encode(); got != tc.query {
				t.Errorf("query = %q, want %q", got, tc.query)
			}
		})
	}
}

func TestMembersNotFoundIsAnError(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(nil))
	res := runCLI(t, agent, nil, "", "members")
	assertOneLineError(t, res, exitError,
		"Error retrieving members: Unexpected response code: 404 (Invalid URL path: not a recognized HTTP API endpoint)")
	if agent.only(t).Method != http.MethodGet {
		t.Error("members must GET")
	}
}

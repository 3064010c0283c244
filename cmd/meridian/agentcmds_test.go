package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestAgentCommands covers join, leave, force-leave, reload and info: the
// request each sends and what it prints.
func TestAgentCommands(t *testing.T) {
	runCLICases(t, nil, []cliCase{
		{
			name: "join", args: []string{"join", "10.0.0.1:8301", "10.0.0.2"},
			reply:  fakeAlways(fakeReply{}),
			reqs:   []string{"PUT /v1/agent/join/10.0.0.1:8301?", "PUT /v1/agent/join/10.0.0.2?"},
			stdout: "Successfully joined cluster by contacting 2 nodes.\n",
		},
		{
			name: "join wan, one fails", args: []string{"join", "-wan", "bad:1", "good:2"},
			reply: fakeRoutes(map[string]fakeReply{
				"PUT /v1/agent/join/bad:1":  {status: http.StatusInternalServerError, body: "dial tcp: refused"},
				"PUT /v1/agent/join/good:2": {},
			}),
			reqs:   []string{"PUT /v1/agent/join/bad:1?wan=1", "PUT /v1/agent/join/good:2?wan=1"},
			stdout: "Successfully joined cluster by contacting 1 nodes.\n",
			stderr: "Error joining address 'bad:1': Unexpected response code: 500 (dial tcp: refused)\n",
		},
		{
			name: "join all fail", args: []string{"join", "bad:1"},
			reply: fakeAlways(fakeReply{status: http.StatusInternalServerError, body: "no route"}),
			reqs:  []string{"PUT /v1/agent/join/bad:1?"},
			code:  exitError,
			stderr: "Error joining address 'bad:1': Unexpected response code: 500 (no route)\n" +
				"Failed to join any nodes.\n",
		},
		{
			name: "leave", args: []string{"leave"}, reply: fakeAlways(fakeReply{}),
			reqs: []string{"PUT /v1/agent/leave?"}, stdout: "Graceful leave complete\n",
		},
		{
			name: "force-leave", args: []string{"force-leave", "-prune", "-wan", "n1.dc2"}, reply: fakeAlways(fakeReply{}),
			reqs: []string{"PUT /v1/agent/force-leave/n1.dc2?prune=1&wan=1"},
		},
		{
			name: "reload", args: []string{"reload", "-token=t"}, reply: fakeAlways(fakeReply{}),
			reqs: []string{"PUT /v1/agent/reload?"}, stdout: "Configuration reload triggered\n",
		},
		{
			name: "info", args: []string{"info"},
			reply: fakeAlways(fakeReply{body: `{"Config":{"NodeName":"n1","Datacenter":"dc1"},
				"Stats":{"raft":{"state":"Leader","applied_index":"12","num_peers":"2"},
				         "agent":{"server":"true","checks":"0"},
				         "serf_lan":{"members":3,"encrypted":false,"event_time":1000000}}}`}),
			reqs: []string{"GET /v1/agent/self?"},
			stdout: "agent:\n\tchecks = 0\n\tserver = true\n" +
				"raft:\n\tapplied_index = 12\n\tnum_peers = 2\n\tstate = Leader\n" +
				"serf_lan:\n\tencrypted = false\n\tevent_time = 1000000\n\tmembers = 3\n",
		},
		{
			name: "info without stats", args: []string{"info"}, reply: fakeAlways(fakeReply{body: `{"Config":{}}`}),
			reqs: []string{"GET /v1/agent/self?"}, code: exitError,
			stderr: "Error querying agent: response did not contain 'Stats'\n",
		},
	})
}

func TestServerGCPercent(t *testing.T) {
	cases := []struct {
		server bool
		env    string
		want   int
		set    bool
	}{
		{true, "", 300, true},
		{true, "100", 0, false}, // the operator's GOGC wins
		{true, "off", 0, false},
		{false, "", 0, false}, // client agents keep Go's default
	}
	for _, c := range cases {
		if got, set := serverGCPercent(c.server, c.env); got != c.want || set != c.set {
			t.Errorf("serverGCPercent(%v, %q) = %d, %v; want %d, %v", c.server, c.env, got, set, c.want, c.set)
		}
	}
}

// cliCase is one run of a command against a fake agent: the requests it
// makes and what it prints.
type cliCase struct {
	name   string
	args   []string
	reply  func(seenRequest) fakeReply
	reqs   []string // "METHOD path?query"
	code   int
	stdout string
	stderr string
}

// runCLICases runs each case with env; when env sets MERIDIAN_HTTP_TOKEN,
// every request must carry it.
func runCLICases(t *testing.T, env map[string]string, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, tc.reply)
			res := runCLI(t, agent, env, "", tc.args...)
			if res.code != tc.code || res.stdout != tc.stdout || res.stderr != tc.stderr {
				t.Errorf("got code %d stdout %q stderr %q\nwant code %d stdout %q stderr %q",
					res.code, res.stdout, res.stderr, tc.code, tc.stdout, tc.stderr)
			}
			var got []string
			for _, r := range agent.requests() {
				got = append(got, r.Method+" "+r.Path+"?"+r.Query.Encode())
				if want, ok := env["MERIDIAN_HTTP_TOKEN"]; ok && r.Token != want {
					t.Errorf("%s %s sent token %q, want %q", r.Method, r.Path, r.Token, want)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.reqs, "\n") {
				t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.reqs, "\n"))
			}
		})
	}
}

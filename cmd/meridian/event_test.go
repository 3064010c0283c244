package main

import (
	"net/http"
	"testing"
)

const firedEvent = `{"ID":"b54fe110-7af5-cafc-d1fb-afc8ba432b1c","Name":"deploy","Payload":"djEuMg==","NodeFilter":"","ServiceFilter":"web","TagFilter":"","Version":1,"LTime":0}`

func TestEvent(t *testing.T) {
	cases := []struct {
		name             string
		args             []string
		reply            fakeReply
		path, query, bod string
		code             int
		stdout, stderr   string
	}{
		{
			name: "payload and filters", args: []string{"event", "-name=deploy", "-node=^web-", "-service=web", "-tag=v[12]", "v1.2"},
			reply: fakeReply{body: firedEvent}, path: "/v1/event/fire/deploy", query: "node=%5Eweb-&service=web&tag=v%5B12%5D", bod: "v1.2",
			stdout: "Event ID: b54fe110-7af5-cafc-d1fb-afc8ba432b1c\n",
		},
		{
			name: "no payload", args: []string{"event", "-name", "deploy"},
			reply: fakeReply{body: firedEvent}, path: "/v1/event/fire/deploy",
			stdout: "Event ID: b54fe110-7af5-cafc-d1fb-afc8ba432b1c\n",
		},
		{
			name: "agent error", args: []string{"event", "-name=deploy"},
			reply: fakeReply{status: http.StatusInternalServerError, body: "No cluster leader"}, path: "/v1/event/fire/deploy",
			code: exitError, stderr: "Error firing event: Unexpected response code: 500 (No cluster leader)",
		},
		{
			name: "agent without the endpoint", args: []string{"event", "-name=deploy"},
			reply: fakeReply{status: http.StatusNotFound, body: "Invalid URL path: not a recognized HTTP API endpoint"}, path: "/v1/event/fire/deploy",
			code: exitError, stderr: "Error firing event: Unexpected response code: 404",
		},
		{
			name: "bad answer", args: []string{"event", "-name=deploy"},
			reply: fakeReply{body: "true"}, path: "/v1/event/fire/deploy",
			code: exitError, stderr: `Error firing event: json: cannot unmarshal bool`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, fakeAlways(tc.reply))
			res := runCLI(t, agent, map[string]string{"MERIDIAN_HTTP_TOKEN": "tok"}, "", tc.args...)
			req := agent.only(t)
			if req.Method != "PUT" || req.Path != tc.path || req.Query.Encode() != tc.query || req.Body != tc.bod || req.Token != "tok" {
				t.Errorf("request = %s %s ?%s body %q token %q; want PUT %s ?%s body %q token tok",
					req.Method, req.Path, req.Query.Encode(), req.Body, req.Token, tc.path, tc.query, tc.bod)
			}
			if res.stdout != tc.stdout {
				t.Errorf("stdout = %q, want %q", res.stdout, tc.stdout)
			}
			if tc.stderr == "" {
				if res.code != exitOK || res.stderr != "" {
					t.Errorf("code %d, stderr %q", res.code, res.stderr)
				}
				return
			}
			assertOneLineError(t, res, tc.code, tc.stderr)
		})
	}
}

func TestEventUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"event"}, "Event name must be specified"},
		{[]string{"event", "-name=x", "-node=("}, "Failed to compile node filter regexp"},
		{[]string{"event", "-name=x", "-service=web", "-tag=["}, "Failed to compile tag filter regexp"},
		{[]string{"event", "-name=x", "-tag=v1"}, "Cannot provide tag filter without service filter."},
		{[]string{"event", "-name=x", "a", "b"}, "Too many arguments (expected at most 1, got 2)"},
		{[]string{"event", "-nope"}, "flag provided but not defined: -nope"},
	}
	agent := newFakeAgent(t, fakeAlways(fakeReply{body: firedEvent}))
	for _, tc := range cases {
		res := runCLI(t, agent, nil, "", tc.args...)
		assertOneLineError(t, res, exitUsage, tc.want)
	}
	if n := len(agent.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
	res := runCLI(t, agent, nil, "", "event", "-h")
	if res.code != exitOK || res.stdout[:len("Usage: meridian event")] != "Usage: meridian event" {
		t.Errorf("help: code %d stdout %q", res.code, res.stdout)
	}
}

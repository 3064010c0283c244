package main

import (
	"net/http"
	"testing"
)

func TestMaint(t *testing.T) {
	self := fakeReply{body: `{"Config":{"NodeName":"n1","Datacenter":"dc1"}}`}
	checks := fakeReply{body: `{
		"service:web-1":{"CheckID":"service:web-1","ServiceID":"web-1","Status":"passing"},
		"_service_maintenance:web-1":{"CheckID":"_service_maintenance:web-1","ServiceID":"web-1","Status":"critical","Notes":"deploy"},
		"_node_maintenance":{"CheckID":"_node_maintenance","Status":"critical","Notes":"kernel upgrade"}}`}
	runCLICases(t, map[string]string{"MERIDIAN_HTTP_TOKEN": "tok"}, []cliCase{
		{
			name: "node on", args: []string{"maint", "-enable", "-reason=kernel upgrade"}, reply: fakeAlways(fakeReply{}),
			reqs: []string{"PUT /v1/agent/maintenance?enable=true&reason=kernel+upgrade"}, stdout: "Node maintenance is now enabled\n",
		},
		{
			name: "node off", args: []string{"maint", "-disable"}, reply: fakeAlways(fakeReply{}),
			reqs: []string{"PUT /v1/agent/maintenance?enable=false"}, stdout: "Node maintenance is now disabled\n",
		},
		{
			name: "service on", args: []string{"maint", "-enable", "-service=web-1"}, reply: fakeAlways(fakeReply{}),
			reqs:   []string{"PUT /v1/agent/service/maintenance/web-1?enable=true&reason="},
			stdout: "Service maintenance is now enabled for \"web-1\"\n",
		},
		{
			name: "service off", args: []string{"maint", "-disable", "-service", "web-1"}, reply: fakeAlways(fakeReply{}),
			reqs:   []string{"PUT /v1/agent/service/maintenance/web-1?enable=false"},
			stdout: "Service maintenance is now disabled for \"web-1\"\n",
		},
		{
			name: "unknown service", args: []string{"maint", "-enable", "-service=nope"},
			reply: fakeAlways(fakeReply{status: http.StatusNotFound, body: `Unknown service ID "nope"`}),
			reqs:  []string{"PUT /v1/agent/service/maintenance/nope?enable=true&reason="},
			code:  exitError, stderr: "Error: no service registered with ID \"nope\" on this agent\n",
		},
		{
			name: "refused", args: []string{"maint", "-enable"},
			reply: fakeAlways(fakeReply{status: http.StatusForbidden, body: "Permission denied"}),
			reqs:  []string{"PUT /v1/agent/maintenance?enable=true&reason="},
			code:  exitError, stderr: "Error: maintenance mode could not be enabled: Unexpected response code: 403 (Permission denied)\n",
		},
		{
			name: "list", args: []string{"maint"},
			reply: fakeRoutes(map[string]fakeReply{"GET /v1/agent/self": self, "GET /v1/agent/checks": checks}),
			reqs:  []string{"GET /v1/agent/self?", "GET /v1/agent/checks?"},
			stdout: "Node:\n  Name:   n1\n  Reason: kernel upgrade\n\n" +
				"Service:\n  ID:     web-1\n  Reason: deploy\n\n",
		},
		{
			name: "list, nothing in maintenance", args: []string{"maint"},
			reply: fakeRoutes(map[string]fakeReply{"GET /v1/agent/self": self, "GET /v1/agent/checks": {body: `{}`}}),
			reqs:  []string{"GET /v1/agent/self?", "GET /v1/agent/checks?"},
		},
	})
}

func TestMaintUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"maint", "-enable", "-disable"}, "Only one of -enable or -disable may be provided"},
		{[]string{"maint", "-reason=x"}, "Reason may only be provided with -enable"},
		{[]string{"maint", "-disable", "-reason=x"}, "Reason may only be provided with -enable"},
		{[]string{"maint", "-service=web"}, "Service requires either -enable or -disable"},
		{[]string{"maint", "-enable", "-service="}, "-service needs a service ID"},
		{[]string{"maint", "-enable", "extra"}, "Too many arguments (expected 0, got 1)"},
		{[]string{"maint", "-nope"}, "flag provided but not defined: -nope"},
	}
	agent := newFakeAgent(t, fakeAlways(fakeReply{}))
	for _, tc := range cases {
		res := runCLI(t, agent, nil, "", tc.args...)
		assertOneLineError(t, res, exitUsage, tc.want)
	}
	if n := len(agent.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
}

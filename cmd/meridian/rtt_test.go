package main

import (
	"strings"
	"testing"
)

const rttNodesJSON = `[
 {"Node":"a","Segment":"","Coord":{"Vec":[0.001,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.0005}},
 {"Node":"b","Segment":"","Coord":{"Vec":[0.011,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.0005}},
 {"Node":"b","Segment":"other","Coord":{"Vec":[9,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0}},
 {"Node":"odd","Segment":"","Coord":{"Vec":[0.001,0],"Error":1.5,"Adjustment":0,"Height":0}}
]`

const rttDatacentersJSON = `[
 {"Datacenter":"dc1","AreaID":"WAN","Coordinates":[{"Node":"s1.dc1","Segment":"","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.001}}]},
 {"Datacenter":"dc2","AreaID":"WAN","Coordinates":[{"Node":"s1.dc2","Segment":"","Coord":{"Vec":[0.02,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.001}}]}
]`

func TestRTT(t *testing.T) {
	routes := fakeRoutes(map[string]fakeReply{
		"GET /v1/coordinate/nodes":       {body: rttNodesJSON},
		"GET /v1/coordinate/datacenters": {body: rttDatacentersJSON},
		"GET /v1/agent/self":             {body: `{"Config":{"NodeName":"a","Datacenter":"dc1"},"Member":{"Name":"a"}}`},
	})
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		// 10 ms apart plus both heights (0.5 ms each).
		{name: "two nodes", args: []string{"rtt", "a", "B"}, stdout: "Estimated a <-> B rtt: 11.000 ms (using LAN coordinates)\n"},
		{name: "from the agent", args: []string{"rtt", "b"}, stdout: "Estimated b <-> a rtt: 11.000 ms (using LAN coordinates)\n"},
		{name: "wan", args: []string{"rtt", "-wan", "s1.dc2", "s1.dc1"}, stdout: "Estimated s1.dc2 <-> s1.dc1 rtt: 22.000 ms (using WAN coordinates)\n"},
		{name: "wan from the agent", args: []string{"rtt", "-wan", "s1.dc2"}, code: exitError, stderr: `Could not find a coordinate for node "a.dc1"`},
		{name: "unknown node", args: []string{"rtt", "a", "ghost"}, code: exitError, stderr: `Could not find a coordinate for node "ghost"`},
		{name: "incompatible", args: []string{"rtt", "a", "odd"}, code: exitError, stderr: "not compatible"},
		{name: "wan without dc", args: []string{"rtt", "-wan", "s1"}, code: exitUsage, stderr: "<node name>.<datacenter>"},
		{name: "no node", args: []string{"rtt"}, code: exitUsage, stderr: "One or two node names must be specified"},
		{name: "too many", args: []string{"rtt", "a", "b", "c"}, code: exitUsage, stderr: "Too many arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newFakeAgent(t, routes)
			res := runCLI(t, agent, nil, "", tc.args...)
			if tc.stderr != "" {
				assertOneLineError(t, res, tc.code, tc.stderr)
				return
			}
			if res.code != exitOK || res.stdout != tc.stdout {
				t.Fatalf("code %d, stdout %q, stderr %q; want %q", res.code, res.stdout, res.stderr, tc.stdout)
			}
		})
	}
}

func TestRTTDatacenterFlag(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"GET /v1/coordinate/nodes": {body: rttNodesJSON}}))
	res := runCLI(t, agent, nil, "", "rtt", "-datacenter", "dc2", "-stale", "a", "b")
	if res.code != exitOK || !strings.Contains(res.stdout, "11.000 ms") {
		t.Fatalf("code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	req := agent.only(t)
	if req.Query.Get("dc") != "dc2" || !req.Query.Has("stale") {
		t.Fatalf("query %v, want dc=dc2 and stale", req.Query)
	}
}

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestRaftListPeers(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"GET /v1/operator/raft/configuration": {body: `{
		"Servers":[
		 {"ID":"id-1","Node":"s1","Address":"10.0.0.1:8300","Leader":false,"Voter":true,"ProtocolVersion":"3"},
		 {"ID":"id-2","Node":"server-2","Address":"10.0.0.2:8300","Leader":true,"Voter":true,"ProtocolVersion":"3"},
		 {"ID":"id-3","Node":"s3","Address":"10.0.0.3:8300","Leader":false,"Voter":false,"ProtocolVersion":""}],
		"Index":42}`}}))
	res := runCLI(t, agent, nil, "", "operator", "raft", "list-peers")
	want := "" +
		"Node      ID    Address        State     Voter  RaftProtocol\n" +
		"s1        id-1  10.0.0.1:8300  follower  true   3\n" +
		"server-2  id-2  10.0.0.2:8300  leader    true   3\n" +
		"s3        id-3  10.0.0.3:8300  follower  false  <=1\n"
	if res.code != exitOK || res.stderr != "" || res.stdout != want {
		t.Errorf("code %d stderr %q stdout:\n%s\nwant:\n%s", res.code, res.stderr, res.stdout, want)
	}
}

func TestRaftRemovePeer(t *testing.T) {
	cases := []struct {
		args   []string
		query  string
		stdout string
	}{
		{[]string{"-address=10.0.0.3:8300"}, "address=10.0.0.3%3A8300", "Removed peer with address \"10.0.0.3:8300\"\n"},
		{[]string{"-id=id-3", "-dc=dc2"}, "dc=dc2&id=id-3", "Removed peer with id \"id-3\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"DELETE /v1/operator/raft/peer": {}}))
			res := runCLI(t, agent, nil, "", append([]string{"operator", "raft", "remove-peer"}, tc.args...)...)
			if res.code != exitOK || res.stdout != tc.stdout || res.stderr != "" {
				t.Errorf("code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
			}
			req := agent.only(t)
			if req.Method != http.MethodDelete || req.Query.Encode() != tc.query {
				t.Errorf("request %s ?%s, want DELETE ?%s", req.Method, req.Query.Encode(), tc.query)
			}
		})
	}
}

const autopilotConfigBody = `{"CleanupDeadServers":true,"LastContactThreshold":"200ms","MaxTrailingLogs":250,"MinQuorum":0,
	"ServerStabilizationTime":"10s","RedundancyZoneTag":"","DisableUpgradeMigration":false,"UpgradeVersionTag":"",
	"CreateIndex":4,"ModifyIndex":7}`

func TestAutopilotGetConfig(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"GET /v1/operator/autopilot/configuration": {body: autopilotConfigBody}}))
	res := runCLI(t, agent, nil, "", "operator", "autopilot", "get-config")
	want := "CleanupDeadServers = true\nLastContactThreshold = 200ms\nMaxTrailingLogs = 250\nMinQuorum = 0\n" +
		"ServerStabilizationTime = 10s\nRedundancyZoneTag = \"\"\nDisableUpgradeMigration = false\nUpgradeVersionTag = \"\"\n"
	if res.code != exitOK || res.stderr != "" || res.stdout != want {
		t.Errorf("code %d stderr %q stdout:\n%s\nwant:\n%s", res.code, res.stderr, res.stdout, want)
	}
}

// set-config changes only the options given, as a check-and-set over the
// configuration it read.
func TestAutopilotSetConfig(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{
		"GET /v1/operator/autopilot/configuration": {body: autopilotConfigBody},
		"PUT /v1/operator/autopilot/configuration": {body: "true"},
	}))
	res := runCLI(t, agent, nil, "", "operator", "autopilot", "set-config", "-min-quorum=3", "-cleanup-dead-servers=false", "-last-contact-threshold=1s")
	if res.code != exitOK || res.stdout != "Configuration updated!\n" || res.stderr != "" {
		t.Fatalf("code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}
	reqs := agent.requests()
	if len(reqs) != 2 || reqs[1].Method != http.MethodPut || reqs[1].Query.Get("cas") != "7" {
		t.Fatalf("requests %+v", reqs)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(reqs[1].Body), &sent); err != nil {
		t.Fatal(err)
	}
	if sent["MinQuorum"] != 3.0 || sent["CleanupDeadServers"] != false || sent["LastContactThreshold"] != "1s" ||
		sent["MaxTrailingLogs"] != 250.0 || sent["ServerStabilizationTime"] != "10s" {
		t.Fatalf("sent %v", sent)
	}

	lost := newFakeAgent(t, fakeRoutes(map[string]fakeReply{
		"GET /v1/operator/autopilot/configuration": {body: autopilotConfigBody},
		"PUT /v1/operator/autopilot/configuration": {body: "false"},
	}))
	res = runCLI(t, lost, nil, "", "operator", "autopilot", "set-config", "-min-quorum=3")
	if res.code != exitError || !strings.Contains(res.stderr, "could not be atomically updated") {
		t.Fatalf("lost cas: code %d stderr %q", res.code, res.stderr)
	}
	res = runCLI(t, lost, nil, "", "operator", "autopilot", "set-config", "-min-quorum=lots")
	if res.code != exitUsage {
		t.Fatalf("bad flag: code %d stderr %q", res.code, res.stderr)
	}
}

func TestAutopilotState(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"GET /v1/operator/autopilot/state": {body: `{
		"Healthy":true,"FailureTolerance":1,"OptimisticFailureTolerance":2,"Leader":"id-1","Voters":["id-1","id-2","id-3"],
		"Servers":{"id-1":{"ID":"id-1","Name":"s1","Address":"10.0.0.1:8300","NodeStatus":"alive","Version":"0.1.0",
		"LastContact":"0s","LastTerm":2,"LastIndex":40,"Healthy":true,"Status":"leader","NodeType":"voter"}}}`}}))
	res := runCLI(t, agent, nil, "", "operator", "autopilot", "state")
	for _, want := range []string{"Healthy:                      true", "Failure Tolerance:            1",
		"Leader:                       id-1", "   id-2\n", "      Status:       leader", "      Last Index:   40"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("state output lacks %q:\n%s", want, res.stdout)
		}
	}
	if res.code != exitOK {
		t.Fatalf("code %d stderr %q", res.code, res.stderr)
	}
}

func TestRaftTransferLeader(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"POST /v1/operator/raft/transfer-leader": {body: `{"Success":true}`}}))
	res := runCLI(t, agent, nil, "", "operator", "raft", "transfer-leader", "-id=id-2")
	if res.code != exitOK || res.stdout != "Success\n" {
		t.Fatalf("code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}
	if req := agent.only(t); req.Method != http.MethodPost || req.Query.Get("id") != "id-2" {
		t.Fatalf("request %s ?%s", req.Method, req.Query.Encode())
	}
	failing := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"POST /v1/operator/raft/transfer-leader": {status: 400, body: "cannot transfer leadership to itself"}}))
	res = runCLI(t, failing, nil, "", "operator", "raft", "transfer-leader", "-id=self")
	if res.code != exitError || !strings.Contains(res.stderr, "cannot transfer leadership to itself") {
		t.Fatalf("code %d stderr %q", res.code, res.stderr)
	}
}

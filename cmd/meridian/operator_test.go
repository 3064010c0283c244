package main

import (
	"net/http"
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

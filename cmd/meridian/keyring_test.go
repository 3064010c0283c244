package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestKeygen(t *testing.T) {
	seen := map[string]bool{}
	for range 2 {
		res := runCLI(t, nil, nil, "", "keygen")
		key := strings.TrimSuffix(res.stdout, "\n")
		raw, err := base64.StdEncoding.DecodeString(key)
		if res.code != exitOK || err != nil || len(raw) != 32 || seen[key] {
			t.Fatalf("keygen: code %d stdout %q (%d bytes, %v)", res.code, res.stdout, len(raw), err)
		}
		seen[key] = true
	}
	if res := runCLI(t, nil, nil, "", "keygen", "extra"); res.code != exitUsage {
		t.Errorf("keygen extra: code %d", res.code)
	}
}

func TestKeyringOperations(t *testing.T) {
	cases := []struct{ flag, method string }{
		{"-install", "POST"},
		{"-use", "PUT"},
		{"-remove", "DELETE"},
	}
	for _, tc := range cases {
		t.Run(tc.flag, func(t *testing.T) {
			agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{tc.method + " /v1/operator/keyring": {}}))
			res := runCLI(t, agent, nil, "", "keyring", tc.flag+"=a2V5", "-token=tok")
			if res.code != exitOK || res.stderr != "" {
				t.Fatalf("code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
			}
			req := agent.only(t)
			if req.Method != tc.method || req.Path != "/v1/operator/keyring" || strings.TrimSpace(req.Body) != `{"Key":"a2V5"}` || req.Token != "tok" {
				t.Errorf("request %+v", req)
			}
		})
	}
}

func TestKeyringList(t *testing.T) {
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"GET /v1/operator/keyring": {body: `[
		{"WAN":true,"Datacenter":"dc1","Segment":"","Keys":{"b2xk":3},"PrimaryKeys":{"b2xk":3},"NumNodes":3},
		{"WAN":false,"Datacenter":"dc1","Segment":"","Keys":{"b2xk":5,"bmV3":4},"PrimaryKeys":{"b2xk":5},"NumNodes":5}]`}}))
	res := runCLI(t, agent, nil, "", "keyring", "-list")
	want := "==> Gathering installed encryption keys...\n" +
		"\nWAN:\n  b2xk [3/3] (primary on 3)\n" +
		"\ndc1 (LAN):\n  b2xk [5/5] (primary on 5)\n  bmV3 [4/5]\n"
	if res.code != exitOK || res.stderr != "" || res.stdout != want {
		t.Errorf("code %d stderr %q stdout:\n%s\nwant:\n%s", res.code, res.stderr, res.stdout, want)
	}
}

func TestKeyringErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-list", "-use=a2V5"}, {"-list", "extra"}} {
		if res := runCLI(t, nil, nil, "", append([]string{"keyring"}, args...)...); res.code != exitUsage {
			t.Errorf("keyring %v: code %d stderr %q, want usage error", args, res.code, res.stderr)
		}
	}
	agent := newFakeAgent(t, fakeRoutes(map[string]fakeReply{"DELETE /v1/operator/keyring": {status: 400, body: "remove key: the key is the primary key; use another key first"}}))
	res := runCLI(t, agent, nil, "", "keyring", "-remove=a2V5")
	if res.code != exitError || !strings.Contains(res.stderr, "primary key") {
		t.Errorf("code %d stderr %q", res.code, res.stderr)
	}
}

package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestACLCommandsAgainstCluster drives bootstrap, policy and token
// commands against a datacenter with ACLs on and deny by default.
func TestACLCommandsAgainstCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1,
		Args: []string{"-hcl", `acl { enabled = true default_policy = "deny" }`}})
	addr := c.Nodes[0].HTTPAddr
	env := map[string]string{"MERIDIAN_HTTP_ADDR": addr}
	cli := func(token, stdin string, args ...string) cliResult {
		t.Helper()
		e := map[string]string{"MERIDIAN_HTTP_ADDR": addr, "MERIDIAN_HTTP_TOKEN": token}
		return runCLI(t, nil, e, stdin, args...)
	}
	secretOf := regexp.MustCompile(`SecretID:\s+(\S+)`)
	accessorOf := regexp.MustCompile(`AccessorID:\s+(\S+)`)

	boot := runCLI(t, nil, env, "", "acl", "bootstrap")
	if boot.code != exitOK || !strings.Contains(boot.stdout, "global-management") {
		t.Fatalf("bootstrap: %+v", boot)
	}
	root := secretOf.FindStringSubmatch(boot.stdout)[1]
	again := runCLI(t, nil, env, "", "acl", "bootstrap")
	assertOneLineError(t, again, exitError, "ACL bootstrap no longer allowed")

	pol := cli(root, `key_prefix "app/" { policy = "write" }`, "acl", "policy", "create", "-name", "app", "-rules", "-")
	if pol.code != exitOK || !strings.Contains(pol.stdout, `key_prefix "app/"`) {
		t.Fatalf("policy create: %+v", pol)
	}
	bad := cli(root, "", "acl", "policy", "create", "-name", "bad", "-rules", `key "x" { policy = "all" }`)
	assertOneLineError(t, bad, exitError, "Failed to create new policy")
	if l := cli(root, "", "acl", "policy", "list"); l.code != exitOK || !strings.Contains(l.stdout, "app:") {
		t.Fatalf("policy list: %+v", l)
	}
	if r := cli(root, "", "acl", "policy", "read", "-name", "app"); r.code != exitOK || !strings.Contains(r.stdout, "Name:         app") {
		t.Fatalf("policy read: %+v", r)
	}

	tok := cli(root, "", "acl", "token", "create", "-description", "app writer", "-policy-name", "app")
	if tok.code != exitOK || !strings.Contains(tok.stdout, " - app") {
		t.Fatalf("token create: %+v", tok)
	}
	secret, accessor := secretOf.FindStringSubmatch(tok.stdout)[1], accessorOf.FindStringSubmatch(tok.stdout)[1]
	if r := cli(secret, "", "kv", "put", "app/x", "1"); r.code != exitOK {
		t.Fatalf("kv put with the app token: %+v", r)
	}
	assertOneLineError(t, cli(secret, "", "kv", "put", "other/x", "1"), exitError, "Permission denied")
	if r := cli(secret, "", "acl", "token", "read", "-self"); r.code != exitOK || !strings.Contains(r.stdout, accessor) {
		t.Fatalf("token read -self: %+v", r)
	}
	// set-agent-token: the default token serves requests that carry none.
	assertOneLineError(t, cli("", "", "kv", "put", "app/y", "1"), exitError, "Permission denied")
	if r := cli(root, "", "acl", "set-agent-token", "default", secret); r.code != exitOK || r.stdout != "ACL token \"default\" set successfully\n" {
		t.Fatalf("set-agent-token default: %+v", r)
	}
	if r := cli("", "", "kv", "put", "app/y", "1"); r.code != exitOK {
		t.Fatalf("kv put with no token, the default token set: %+v", r)
	}
	if r := cli(root, "", "acl", "set-agent-token", "agent", secret); r.code != exitOK {
		t.Fatalf("set-agent-token agent: %+v", r)
	}
	assertOneLineError(t, cli(secret, "", "acl", "set-agent-token", "default", ""), exitError, "Failed setting token")
	if r := cli(root, "", "acl", "set-agent-token", "default", ""); r.code != exitOK {
		t.Fatalf("set-agent-token default to none: %+v", r)
	}
	assertOneLineError(t, cli("", "", "kv", "put", "app/y", "2"), exitError, "Permission denied")
	assertOneLineError(t, cli(root, "", "acl", "set-agent-token", "dns", secret), exitUsage, `Unknown token type "dns"`)
	assertOneLineError(t, cli(root, "", "acl", "set-agent-token", "agent"), exitUsage, "Missing TYPE and TOKEN arguments")
	if r := cli(root, "", "acl", "token", "list"); r.code != exitOK || strings.Count(r.stdout, "AccessorID:") != 2 {
		t.Fatalf("token list: %+v", r)
	}
	if r := cli(root, "", "acl", "token", "delete", "-id", accessor); r.code != exitOK {
		t.Fatalf("token delete: %+v", r)
	}
	assertOneLineError(t, cli(secret, "", "kv", "put", "app/x", "2"), exitError, "ACL not found")
	if r := cli(root, "", "acl", "policy", "delete", "-name", "app"); r.code != exitOK {
		t.Fatalf("policy delete: %+v", r)
	}
	assertOneLineError(t, cli(root, "", "acl", "token", "read"), exitUsage, "Exactly one of -id and -self")
}

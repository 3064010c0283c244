package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestAPIRegistrationsSurviveRestart: what a client agent was given
// through the HTTP API (services with their checks and token, a node
// check, a check added to a config file's service, maintenance of the node
// and of a service, a TTL check's reported status) is back after the agent
// restarts on its data directory, and in the catalog; what was
// deregistered stays gone; a config file that now defines a saved ID
// wins; an unreadable file is set aside without stopping the agent.
func TestAPIRegistrationsSurviveRestart(t *testing.T) {
	confDir := t.TempDir()
	writeConf := func(body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(confDir, "services.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConf(`{"services":[{"id":"cfg","name":"cfg","port":7000,"checks":[{"ttl":"1h"}]}]}`)
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 1,
		NodeArgs: func(_ string, _ int, server bool) []string {
			if server {
				return nil
			}
			return []string{"-config-dir", confDir}
		}})
	n := c.Clients()[0]
	cl := client(t, n)
	ag := cl.Agent()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ag.ServiceRegisterOpts(&api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Port: 8080, Tags: []string{"v1"}, Meta: map[string]string{"team": "a"},
		Checks: api.AgentServiceChecks{
			{CheckID: "web-ttl", Name: "web ttl", TTL: "1h"},
			{CheckID: "web-http", Name: "web http", HTTP: "http://127.0.0.1:1/health", Interval: "30s", Timeout: "1s"},
		},
	}, api.ServiceRegisterOpts{Token: "svc-token"}))
	// No ID: the name is the ID, for the token as for the file.
	must(ag.ServiceRegisterOpts(&api.AgentServiceRegistration{Name: "db", Port: 5432}, api.ServiceRegisterOpts{Token: "db-token"}))
	if got := n.Agent.ServiceTokenForTest("db"); got != "db-token" {
		t.Errorf("db's token: %q, want db-token", got)
	}
	must(ag.ServiceRegister(&api.AgentServiceRegistration{ID: "gone", Name: "gone", Port: 1}))
	must(ag.ServiceDeregister("gone"))
	must(ag.CheckRegister(&api.AgentCheckRegistration{ID: "disk", Name: "disk", AgentServiceCheck: api.AgentServiceCheck{TTL: "1h"}}))
	must(ag.CheckRegister(&api.AgentCheckRegistration{ID: "cfg-extra", Name: "cfg extra", ServiceID: "cfg",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "1h"}}))
	must(ag.UpdateTTL("web-ttl", "all good", api.HealthPassing))
	must(ag.EnableNodeMaintenance("kernel upgrade"))
	must(ag.EnableServiceMaintenance("db", "schema change"))

	dir := n.DataDir
	saved := func(kind, id string) bool {
		_, err := os.Stat(filepath.Join(dir, kind, agent.PersistFileName(id)))
		return err == nil
	}
	for _, f := range []struct {
		kind, id string
		want     bool
	}{
		{"services", "web-1", true}, {"services", "db", true}, {"services", "gone", false}, {"services", "cfg", false},
		{"checks", "web-ttl", true}, {"checks", "web-http", true}, {"checks", "disk", true}, {"checks", "cfg-extra", true},
		{"checks", "_node_maintenance", true}, {"checks", "_service_maintenance:db", true}, {"checks", "service:cfg", false},
		{"checks", "service:gone", false},
	} {
		if got := saved(f.kind, f.id); got != f.want {
			t.Errorf("before the restart: %s/%s saved %v, want %v", f.kind, f.id, got, f.want)
		}
	}
	// A report that changes only the output rewrites nothing.
	ttlFile := filepath.Join(dir, "checks", agent.PersistFileName("web-ttl"))
	before, err := os.ReadFile(ttlFile)
	must(err)
	must(ag.UpdateTTL("web-ttl", "all good, still", api.HealthPassing))
	if after, err := os.ReadFile(ttlFile); err != nil || string(after) != string(before) {
		t.Errorf("an output-only report rewrote the check's file:\n%s\n%s (%v)", before, after, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "services", agent.PersistFileName("web-1"))); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("web-1's file (it holds a token): %v, %v; want mode 0600", info.Mode(), err)
	}

	c.Stop(n)
	// A field a later release might add to a saved service is skipped.
	webFile := filepath.Join(dir, "services", agent.PersistFileName("web-1"))
	saved1, err := os.ReadFile(webFile)
	must(err)
	future := strings.Replace(string(saved1), `"Service":{`, `"Service":{"fieldOfALaterRelease":7,`, 1)
	if future == string(saved1) {
		t.Fatalf("web-1's file has no Service object: %s", saved1)
	}
	must(os.WriteFile(webFile, []byte(future), 0o600))
	// A config file now defines db, a saved service's ID.
	writeConf(`{"services":[{"id":"cfg","name":"cfg","port":7000,"checks":[{"ttl":"1h"}]},
		{"id":"db","name":"db","port":6543}]}`)
	bad := filepath.Join(dir, "services", "0000.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Start(n)
	cl = client(t, n)
	ag = cl.Agent()

	services, err := ag.Services()
	must(err)
	if s := services["web-1"]; s == nil || s.Port != 8080 || !slices.Equal(s.Tags, []string{"v1"}) || s.Meta["team"] != "a" {
		t.Errorf("web-1 after the restart: %+v", s)
	}
	if s := services["db"]; s == nil || s.Port != 6543 {
		t.Errorf("db after the restart: %+v, want the config file's (port 6543)", s)
	}
	if _, ok := services["gone"]; ok {
		t.Error("a deregistered service came back")
	}
	if got := n.Agent.ServiceTokenForTest("web-1"); got != "svc-token" {
		t.Errorf("web-1's token after the restart: %q", got)
	}
	checks, err := ag.Checks()
	must(err)
	for id, want := range map[string]string{
		"web-ttl": api.HealthPassing, "web-http": api.HealthCritical, "disk": api.HealthCritical,
		"cfg-extra": api.HealthCritical, "_node_maintenance": api.HealthCritical, "_service_maintenance:db": api.HealthCritical,
	} {
		if c := checks[id]; c == nil || c.Status != want {
			t.Errorf("check %s after the restart: %+v, want status %s", id, c, want)
		}
	}
	if c := checks["web-http"]; c != nil && (c.Definition.HTTP != "http://127.0.0.1:1/health" || c.Definition.Interval.String() != "30s") {
		t.Errorf("web-http's definition after the restart: %+v", c.Definition)
	}
	if c := checks["_node_maintenance"]; c != nil && c.Notes != "kernel upgrade" {
		t.Errorf("node maintenance reason %q", c.Notes)
	}
	if c := checks["_service_maintenance:db"]; c != nil && c.Notes != "schema change" {
		t.Errorf("db maintenance reason %q", c.Notes)
	}
	if saved("services", "db") {
		t.Error("the saved db was kept though a config file defines it")
	}
	if _, err := os.Stat(bad + ".bad"); err != nil {
		t.Errorf("the unreadable file was not set aside: %v", err)
	}

	// The catalog has them again (anti-entropy), maintenance included.
	testcluster.WaitFor(t, 20*time.Second, func() error {
		entries, _, err := cl.Health().Service("web", "", false, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 || len(entries[0].Checks) < 3 {
			return fmt.Errorf("web in the catalog: %d instances", len(entries))
		}
		for _, chk := range entries[0].Checks {
			if chk.CheckID == "_node_maintenance" {
				return nil
			}
		}
		return fmt.Errorf("web's catalog checks lack the node's maintenance")
	})

	// Deregistering removes the files, and the restart after keeps it so.
	must(ag.ServiceDeregister("web-1"))
	must(ag.DisableNodeMaintenance())
	must(ag.CheckDeregister("cfg-extra"))
	for _, f := range [][2]string{{"services", "web-1"}, {"checks", "web-ttl"}, {"checks", "web-http"},
		{"checks", "_node_maintenance"}, {"checks", "cfg-extra"}} {
		if saved(f[0], f[1]) {
			t.Errorf("%s/%s still saved after its deregistration", f[0], f[1])
		}
	}
	c.Stop(n)
	c.Start(n)
	services, err = client(t, n).Agent().Services()
	must(err)
	var ids []string
	for id := range services {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if strings.Join(ids, ",") != "cfg,db" {
		t.Errorf("services after the second restart: %v, want cfg,db", ids)
	}
}

// TestRegistrationNotSavedIsAnError: when the data directory cannot take
// a registration, the API says so (500, one line) rather than answering as
// if a restart would keep it.
func TestRegistrationNotSavedIsAnError(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	n := c.Nodes[0]
	// A file where the services directory would be.
	if err := os.WriteFile(filepath.Join(n.DataDir, "services"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := client(t, n).Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80})
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "could not be saved") {
		t.Fatalf("register with an unusable data directory: %v; want a 500 saying it was not saved", err)
	}
}

// TestAgentTokenPersistence: with acl.enable_token_persistence a token set
// through the API is kept (0600, in the data directory) and replaces the
// configuration's after a restart; without it the configuration's comes
// back; an unreadable token file stops the agent with a message naming it.
func TestAgentTokenPersistence(t *testing.T) {
	confDir := t.TempDir()
	writeConf := func(persist bool) {
		t.Helper()
		body := fmt.Sprintf(`{"acl":{"enabled":true,"default_policy":"allow","enable_token_persistence":%v,
			"tokens":{"initial_management":"root-secret","agent":"cfg-agent","default":"root-secret"}}}`, persist)
		if err := os.WriteFile(filepath.Join(confDir, "acl.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConf(true)
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-config-dir", confDir}})
	n := c.Nodes[0]
	if _, err := client(t, n).Agent().UpdateAgentACLToken("api-agent", nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(n.DataDir, "acl-tokens.json")
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", info, err)
	}
	c.Stop(n)
	c.Start(n)
	if got, def := n.Agent.AgentTokenForTest(), n.Agent.DefaultTokenForTest(); got != "api-agent" || def != "root-secret" {
		t.Errorf("after a restart: agent token %q, default %q; want api-agent (saved) and root-secret (config)", got, def)
	}

	// Persistence off: the configuration's token is back.
	c.Stop(n)
	writeConf(false)
	c.Start(n)
	if got := n.Agent.AgentTokenForTest(); got != "cfg-agent" {
		t.Errorf("persistence off: agent token %q, want cfg-agent", got)
	}

	c.Stop(n)
	writeConf(true)
	if err := os.WriteFile(file, []byte("{oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(append(slices.Clone(n.Args), "-config-dir", confDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "acl-tokens.json") {
		t.Errorf("an unreadable token file: %v; want an error naming it", err)
	}
}

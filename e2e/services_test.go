package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServicesCLI(t *testing.T) {
	e := newEnv(t)
	dev := startDev(t, e, "svc1")
	at := "-http-addr=" + dev.HTTPAddr
	file := filepath.Join(t.TempDir(), "hello.json")
	example := `{"services":[{"id":"hello1","name":"hello","tags":["primary"],"address":"172.17.0.5","port":5000,
  "checks":[{"http":"http://localhost:5000/","tls_skip_verify":false,"method":"Get","interval":"10s","timeout":"1s"}]}]}`
	if err := os.WriteFile(file, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, "", "services", "register", at, file); out != "Registered service: hello\n" {
		t.Fatalf("register printed %q", out)
	}
	mustCLI(t, "", "services", "register", at, "-name", "db", "-port", "5432", "-tag", "primary", "-meta", "team=data")
	services, err := dev.API.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if s := services["hello1"]; s == nil || s.Port != 5000 || s.Address != "172.17.0.5" {
		t.Fatalf("hello1 = %+v", s)
	}
	if s := services["db"]; s == nil || s.Port != 5432 || s.Meta["team"] != "data" || len(s.Tags) != 1 {
		t.Fatalf("db = %+v", s)
	}
	checks, _ := dev.API.Agent().Checks()
	if c := checks["service:hello1"]; c == nil || c.Definition.Interval.String() != "10s" {
		t.Fatalf("hello1's check = %+v", c)
	}
	// The other kinds a file's checks may have reach the agent too.
	kinds := filepath.Join(t.TempDir(), "kinds.hcl")
	if err := os.WriteFile(kinds, []byte(`service {
  name = "edge"
  port = 8443
  checks = [
    { udp = "127.0.0.1:53", interval = "10s" },
    { h2ping = "127.0.0.1:8443", interval = "10s" },
    { alias_service = "hello1" },
  ]
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "", "services", "register", at, kinds)
	checks, _ = dev.API.Agent().Checks()
	for id, typ := range map[string]string{"service:edge:1": "udp", "service:edge:2": "h2ping", "service:edge:3": "alias"} {
		if c := checks[id]; c == nil || c.Type != typ {
			t.Errorf("%s = %+v, want a %s check", id, c, typ)
		}
	}
	mustCLI(t, "", "services", "deregister", at, "-id", "edge")
	e.waitFor(startTimeout, "hello in the catalog", func() error {
		out := runCLI(t, "", "catalog", "services", at)
		if !strings.Contains(out.stdout, "hello") {
			return os.ErrNotExist
		}
		return nil
	})
	mustCLI(t, "", "services", "deregister", at, file)
	mustCLI(t, "", "services", "deregister", at, "-id", "db")
	if services, _ := dev.API.Agent().Services(); len(services) != 0 {
		t.Fatalf("after deregister: %v", services)
	}
	bad := runCLI(t, "", "services", "register", at, "-name", "x", "-port", "99999")
	if bad.code == 0 || len(lines(bad.stderr)) != 1 {
		t.Fatalf("bad port: exit %d stderr %q", bad.code, bad.stderr)
	}
	if res := runCLI(t, "", "services", "deregister", at, "-id", "ghost"); res.code == 0 {
		t.Fatal("deregistering an unknown service succeeded")
	}
}

// TestMaintCLI: maintenance through `meridian maint` takes an instance out
// of passing health answers, is listed, survives a restart of the agent
// (with the service registered through the CLI), and ends with -disable.
func TestMaintCLI(t *testing.T) {
	e := newEnv(t)
	s := e.startServers(1)[0]
	e.waitLeader(startTimeout, "", s)
	at := "-http-addr=" + s.HTTPAddr
	mustCLI(t, "", "services", "register", at, "-name", "web", "-id", "web-1", "-port", "80")
	passing := func(want int) func() error {
		return func() error {
			entries, _, err := s.API.Health().Service("web", "", true, nil)
			if err != nil {
				return err
			}
			if len(entries) != want {
				return fmt.Errorf("%d passing instances of web, want %d", len(entries), want)
			}
			return nil
		}
	}
	e.waitFor(startTimeout, "web passing", passing(1))
	if out := mustCLI(t, "", "maint", at, "-enable", "-service", "web-1", "-reason", "deploy"); out != "Service maintenance is now enabled for \"web-1\"\n" {
		t.Errorf("maint -enable -service printed %q", out)
	}
	if out := mustCLI(t, "", "maint", at, "-enable", "-reason", "kernel upgrade"); out != "Node maintenance is now enabled\n" {
		t.Errorf("maint -enable printed %q", out)
	}
	e.waitFor(startTimeout, "web out of passing", passing(0))
	want := "Node:\n  Name:   s1\n  Reason: kernel upgrade\n\nService:\n  ID:     web-1\n  Reason: deploy\n\n"
	if out := mustCLI(t, "", "maint", at); out != want {
		t.Errorf("maint printed %q, want %q", out, want)
	}
	if res := runCLI(t, "", "maint", at, "-enable", "-service", "ghost"); res.code == 0 || len(lines(res.stderr)) != 1 || !strings.Contains(res.stderr, "ghost") {
		t.Errorf("maint of an unknown service: exit %d, stderr %q", res.code, res.stderr)
	}

	s.Restart()
	e.waitLeader(startTimeout, "", s)
	if out := mustCLI(t, "", "maint", at); out != want {
		t.Errorf("after a restart maint printed %q, want %q", out, want)
	}
	e.waitFor(startTimeout, "web still out of passing", passing(0))

	mustCLI(t, "", "maint", at, "-disable", "-service", "web-1")
	if out := mustCLI(t, "", "maint", at, "-disable"); out != "Node maintenance is now disabled\n" {
		t.Errorf("maint -disable printed %q", out)
	}
	if out := mustCLI(t, "", "maint", at); out != "" {
		t.Errorf("nothing in maintenance, yet maint printed %q", out)
	}
	e.waitFor(startTimeout, "web passing again", passing(1))
}

package e2e

import (
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

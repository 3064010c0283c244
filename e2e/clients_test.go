package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/consul"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// startServerAndClient starts one server and one client agent joined to
// it, and waits for a leader.
func startServerAndClient(t *testing.T, e *env) (server, client *agentProc) {
	t.Helper()
	server = e.startServers(1)[0]
	e.waitLeader(startTimeout, "", server)
	client = e.startAgent("c1", "-node", "c1", "-datacenter", "dc1", "-data-dir", t.TempDir(),
		"-bind", "127.0.0.1", "-client", "127.0.0.1", "-retry-join", server.LANAddr, "-retry-interval", "100ms")
	return server, client
}

// TestPrometheusConsulSD runs Prometheus' own Consul service discovery
// (github.com/prometheus/prometheus/discovery/consul, as a Prometheus
// server runs it) against a client agent: the targets of the services it
// watches come with Consul's labels, and follow registrations, a check
// turning critical and deregistrations as they happen (its watches are
// blocking queries on the catalog and on health).
func TestPrometheusConsulSD(t *testing.T) {
	e := newEnv(t)
	_, c1 := startServerAndClient(t, e)
	agent := c1.API.Agent()
	reg := &api.AgentServiceRegistration{ID: "web1", Name: "web", Port: 8080, Address: "10.0.0.7", Tags: []string{"v1", "prom"},
		Meta:  map[string]string{"team": "core"},
		Check: &api.AgentServiceCheck{CheckID: "web1-ttl", TTL: "1h", Status: api.HealthPassing}}
	e.waitFor(20*time.Second, "web registered", func() error { return agent.ServiceRegister(reg) })

	cfg := consul.DefaultSDConfig
	cfg.Server = c1.HTTPAddr
	cfg.Services = []string{"web", "db"}
	cfg.RefreshInterval = model.Duration(100 * time.Millisecond) // the pause between its blocking queries
	reg2 := prometheus.NewRegistry()
	d, err := consul.NewDiscovery(&cfg, slog.New(slog.DiscardHandler), cfg.NewDiscovererMetrics(reg2, discovery.NewRefreshMetrics(reg2)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := make(chan []*targetgroup.Group)
	go d.Run(ctx, updates)

	// seen keeps the latest target group of each service.
	seen := map[string]*targetgroup.Group{}
	waitGroups := func(what string, ok func() bool) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for !ok() {
			select {
			case tgs := <-updates:
				for _, tg := range tgs {
					seen[tg.Source] = tg
				}
			case <-timeout:
				t.Fatalf("Prometheus discovery never saw %s; last groups: %v", what, seen)
			}
		}
	}
	target := func(service string) model.LabelSet {
		if tg := seen[service]; tg != nil && len(tg.Targets) == 1 {
			return tg.Targets[0]
		}
		return nil
	}
	waitGroups("web's instance", func() bool { return target("web") != nil })
	web := target("web")
	want := model.LabelSet{
		"__address__":                         "10.0.0.7:8080",
		"__meta_consul_node":                  "c1",
		"__meta_consul_address":               "127.0.0.1",
		"__meta_consul_service_id":            "web1",
		"__meta_consul_service_port":          "8080",
		"__meta_consul_service_address":       "10.0.0.7",
		"__meta_consul_tags":                  ",v1,prom,",
		"__meta_consul_service_metadata_team": "core",
		"__meta_consul_health":                "passing",
	}
	for k, v := range want {
		if web[k] != v {
			t.Errorf("web target %s = %q, want %q (all: %v)", k, web[k], v, web)
		}
	}
	if dc := seen["web"].Labels["__meta_consul_dc"]; dc != "dc1" {
		t.Errorf("web group's datacenter label = %q, want dc1", dc)
	}

	// A new service, a check turning critical, a deregistration.
	if err := agent.ServiceRegister(&api.AgentServiceRegistration{ID: "db1", Name: "db", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	waitGroups("db registered", func() bool { return target("db") != nil })
	if got := target("db")["__address__"]; got != "127.0.0.1:5432" {
		t.Errorf("db's address = %q, want the node's address and the service's port", got)
	}
	if err := agent.UpdateTTL("web1-ttl", "down", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	waitGroups("web critical", func() bool { return target("web")["__meta_consul_health"] == "critical" })
	if err := agent.ServiceDeregister("web1"); err != nil {
		t.Fatal(err)
	}
	waitGroups("web deregistered", func() bool { return seen["web"] != nil && len(seen["web"].Targets) == 0 })
}

// TestPythonConsul runs Debian's python-consul (python3-consul, 0.7.1)
// against a client agent: KV with CAS, recursion, keys and a blocking
// get; agent services, checks and maintenance; the catalog and health;
// sessions and locks; events, status, coordinates and prepared queries.
// That release predates Consul 1.0's verbs for a few agent calls (it GETs
// check pass/warn/fail, service and check deregistration, join and
// force-leave, which Consul and Meridian answer 405); the script leaves
// those out. Without the package the test is skipped, except in CI
// (.ci/run installs it).
func TestPythonConsul(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import consul").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-consul is not installed (apt-get install python3-consul): %v", err)
		}
		t.Skip("python3-consul is not installed (apt-get install python3-consul)")
	}
	e := newEnv(t)
	_, c1 := startServerAndClient(t, e)
	e.waitFor(20*time.Second, "the client agent in the catalog", func() error {
		nodes, _, err := c1.API.Catalog().Nodes(nil)
		if err != nil || len(nodes) != 2 {
			return fmt.Errorf("%d nodes, %v", len(nodes), err)
		}
		return nil
	})
	script, err := os.ReadFile(filepath.Join("testdata", "python_consul.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host, port, _ := strings.Cut(c1.HTTPAddr, ":")
	cmd := exec.CommandContext(ctx, python, "-", host, port)
	cmd.Stdin = strings.NewReader(string(script))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), ": OK\n") {
		t.Fatalf("python-consul script: %v\n%s", err, out)
	}
}

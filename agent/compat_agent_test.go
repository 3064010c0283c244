package agent_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// passingCount is the number of passing instances of a service.
func passingCount(t *testing.T, c *api.Client, service string) int {
	t.Helper()
	entries, _, err := c.Health().Service(service, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestConsulAPIAgentServicesAndTTL(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 1,
		TuneHealth: func(h *health.Config) { h.AEInterval = time.Second }})
	clientNode := c.Clients()[0]
	cl := client(t, clientNode)
	srv := client(t, c.Servers()[0])

	reg := &api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1"}, Port: 8080,
		Check: &api.AgentServiceCheck{CheckID: "web-ttl", TTL: "30s"},
	}
	if err := cl.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	services, err := cl.Agent().Services()
	if err != nil || services["web-1"] == nil || services["web-1"].Port != 8080 {
		t.Fatalf("agent services = %v %v", services, err)
	}
	checks, err := cl.Agent().Checks()
	if err != nil || checks["web-ttl"] == nil || checks["web-ttl"].Status != api.HealthCritical {
		t.Fatalf("a TTL check starts critical: %+v %v", checks["web-ttl"], err)
	}
	// Synced to the catalog at once; not passing.
	testcluster.WaitFor(t, 10*time.Second, func() error {
		entries, _, err := srv.Health().Service("web", "", false, nil)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("catalog has %d web instances (%v)", len(entries), err)
		}
		return nil
	})
	if n := passingCount(t, srv, "web"); n != 0 {
		t.Fatalf("critical instance listed as passing (%d)", n)
	}

	// A blocking health query wakes when the check passes.
	_, meta, err := srv.Health().Service("web", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan int, 1)
	go func() {
		e, _, err := srv.Health().Service("web", "", true, &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		if err != nil {
			t.Error(err)
		}
		woke <- len(e)
	}()
	if err := cl.Agent().UpdateTTL("web-ttl", "all good", api.HealthPassing); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-woke:
		if n != 1 {
			t.Fatalf("woke with %d passing", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("blocking health query did not wake on the TTL update")
	}
	if err := cl.Agent().FailTTL("web-ttl", "down"); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if n := passingCount(t, srv, "web"); n != 0 {
			return fmt.Errorf("%d passing after FailTTL", n)
		}
		return nil
	})

	// Drift: a service deleted from the catalog behind the agent's back
	// comes back with the next full sync.
	if _, err := srv.Catalog().Deregister(&api.CatalogDeregistration{Node: clientNode.Name, ServiceID: "web-1"}, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 15*time.Second, func() error {
		svcs, _, err := srv.Catalog().Service("web", "", nil)
		if err != nil || len(svcs) != 1 {
			return fmt.Errorf("web not back in the catalog (%d, %v)", len(svcs), err)
		}
		return nil
	})
	// And one registered in the catalog on the agent's node is removed.
	if _, err := srv.Catalog().Register(&api.CatalogRegistration{Node: clientNode.Name, Address: "127.0.0.1",
		Service: &api.AgentService{ID: "intruder", Service: "intruder"}}, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 15*time.Second, func() error {
		svcs, _, err := srv.Catalog().Service("intruder", "", nil)
		if err != nil || len(svcs) != 0 {
			return fmt.Errorf("intruder still in the catalog (%d, %v)", len(svcs), err)
		}
		return nil
	})

	// Maintenance puts the instance out of passing.
	if err := cl.Agent().PassTTL("web-ttl", ""); err != nil {
		t.Fatal(err)
	}
	if err := cl.Agent().EnableServiceMaintenance("web-1", "deploy"); err != nil {
		t.Fatal(err)
	}
	status, info, err := cl.Agent().AgentHealthServiceByID("web-1")
	if err != nil || status != api.HealthCritical || info == nil || info.AggregatedStatus != api.HealthMaint {
		t.Fatalf("health by id = %q %+v %v", status, info, err)
	}
	if err := cl.Agent().DisableServiceMaintenance("web-1"); err != nil {
		t.Fatal(err)
	}

	if err := cl.Agent().ServiceDeregister("web-1"); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		svcs, _, err := srv.Catalog().Service("web", "", nil)
		if err != nil || len(svcs) != 0 {
			return fmt.Errorf("web still in the catalog after deregister (%d, %v)", len(svcs), err)
		}
		return nil
	})
}

func TestAgentRegistrationBadInput(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	cl := client(t, c.Nodes[0])
	cases := map[string]*api.AgentServiceRegistration{
		"no name":           {ID: "x"},
		"bad port":          {Name: "x", Port: 70000},
		"two check types":   {Name: "x", Check: &api.AgentServiceCheck{TTL: "10s", HTTP: "http://127.0.0.1:1/", Interval: "10s"}},
		"no check type":     {Name: "x", Check: &api.AgentServiceCheck{Interval: "10s"}},
		"negative interval": {Name: "x", Check: &api.AgentServiceCheck{TCP: "127.0.0.1:1", Interval: "-10s"}},
		"script disabled":   {Name: "x", Check: &api.AgentServiceCheck{Args: []string{"true"}, Interval: "10s"}},
		"bad status":        {Name: "x", Check: &api.AgentServiceCheck{TTL: "10s", Status: "sideways"}},
		"docker":            {Name: "x", Check: &api.AgentServiceCheck{DockerContainerID: "f972c95ebf0e", Args: []string{"true"}, Interval: "10s"}},
	}
	// Check kinds Meridian does not run say so (not "TTL must be > 0").
	unsupported := map[string]string{"docker": "Docker"}
	for name, reg := range cases {
		err := cl.Agent().ServiceRegister(reg)
		var se api.StatusError
		if !errors.As(err, &se) || se.Code != 400 {
			t.Errorf("%s: err = %v, want a 400", name, err)
		}
		if kind, ok := unsupported[name]; ok && se.Body != "Invalid check: "+kind+" checks are not supported by Meridian" {
			t.Errorf("%s: %q, want it to name the kind as not supported", name, se.Body)
		}
	}
	err := cl.Agent().CheckRegister(&api.AgentCheckRegistration{Name: "a", AgentServiceCheck: api.AgentServiceCheck{
		DockerContainerID: "f972c95ebf0e", Args: []string{"true"}, Interval: "10s"}})
	if se := (api.StatusError{}); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Body, "Docker checks are not supported") {
		t.Errorf("Docker node check: %v, want a 400 naming Docker checks", err)
	}
	if services, _ := cl.Agent().Services(); len(services) != 0 {
		t.Fatalf("refused registrations left %v", services)
	}
	err = cl.Agent().PassTTL("no-such-check", "")
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("pass on an unknown check: %v", err)
	}
	// The client's Agent().Version (Consul's /v1/agent/version).
	if v, err := cl.Agent().Version(); err != nil || v["HumanVersion"] != agent.Version {
		t.Errorf("agent version: %v, %v; want HumanVersion %s", v, err, agent.Version)
	}
}

// TestAliasCheck: a service's alias check (Consul's AliasService) follows
// the aliased service's health on the agent, and the catalog sees it.
func TestAliasCheck(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	cl := client(t, c.Nodes[0])
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cl.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "db", Port: 5432, Check: &api.AgentServiceCheck{CheckID: "db-ttl", TTL: "1h"}}))
	must(cl.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80,
		Check: &api.AgentServiceCheck{CheckID: "web-alias", Name: "web needs db", AliasService: "db"}}))
	status := func(want string) func() error {
		return func() error {
			checks, _, err := cl.Health().Checks("web", nil)
			if err != nil {
				return err
			}
			for _, chk := range checks {
				if chk.CheckID == "web-alias" && chk.Status == want && chk.Type == "alias" {
					return nil
				}
			}
			return fmt.Errorf("web's alias check in the catalog: %+v, want %s", checks, want)
		}
	}
	testcluster.WaitFor(t, 20*time.Second, status(api.HealthCritical))
	must(cl.Agent().PassTTL("db-ttl", "up"))
	testcluster.WaitFor(t, 20*time.Second, status(api.HealthPassing))
	must(cl.Agent().FailTTL("db-ttl", "down"))
	testcluster.WaitFor(t, 20*time.Second, status(api.HealthCritical))
}

// TestH2PingCheck: an H2PING check registered through consul/api (TLS,
// Consul's default) passes against an HTTP/2 server and fails once it is
// gone.
func TestH2PingCheck(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	cl := client(t, c.Nodes[0])
	if err := cl.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "grpc-app", Port: 9000,
		Check: &api.AgentServiceCheck{CheckID: "h2", H2PING: strings.TrimPrefix(srv.URL, "https://"), TLSSkipVerify: true, Interval: "1s"}}); err != nil {
		t.Fatal(err)
	}
	status := func(want string) func() error {
		return func() error {
			checks, err := cl.Agent().Checks()
			if err != nil {
				return err
			}
			if c := checks["h2"]; c == nil || c.Status != want || c.Type != "h2ping" {
				return fmt.Errorf("h2 check: %+v, want %s", c, want)
			}
			return nil
		}
	}
	testcluster.WaitFor(t, 20*time.Second, status(api.HealthPassing))
	srv.Close()
	testcluster.WaitFor(t, 20*time.Second, status(api.HealthCritical))
}

func TestServicesFromConfigAndReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "services.json")
	// The example from the issue, loaded as is.
	example := `{"services":[{"id":"hello1","name":"hello","tags":["primary"],"address":"172.17.0.5","port":5000,
  "checks":[{"http":"http://localhost:5000/","tls_skip_verify":false,"method":"Get","interval":"10s","timeout":"1s"}]}]}`
	if err := os.WriteFile(file, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-config-dir", dir}})
	node := c.Nodes[0]
	cl := client(t, node)
	services, err := cl.Agent().Services()
	if err != nil || services["hello1"] == nil || services["hello1"].Address != "172.17.0.5" {
		t.Fatalf("services from config = %v %v", services, err)
	}
	checks, _ := cl.Agent().Checks()
	if ch := checks["service:hello1"]; ch == nil || ch.Definition.HTTP != "http://localhost:5000/" {
		t.Fatalf("check from config = %+v", checks)
	}
	if err := os.WriteFile(file, []byte(`{"service":{"id":"bye1","name":"bye","port":6000}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.Agent().Reload(); err != nil {
		t.Fatal(err)
	}
	services, _ = cl.Agent().Services()
	if services["hello1"] != nil || services["bye1"] == nil {
		t.Fatalf("after reload: %v", services)
	}
	if err := os.WriteFile(file, []byte(`{not json`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.Agent().Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if services, _ = cl.Agent().Services(); services["bye1"] == nil {
		t.Fatal("a failed reload dropped the running services")
	}
}

// TestRaftMultiplier: performance.raft_multiplier scales a server's Raft
// timeouts as Consul's does (agent/self shows them under Consul's names),
// and a datacenter of such servers elects a leader and takes writes.
func TestRaftMultiplier(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Args: []string{"-hcl", "performance { raft_multiplier = 2 }"}})
	leader := c.WaitForLeader(60 * time.Second)
	cl := client(t, leader)
	self, err := cl.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	dbg := self["DebugConfig"]
	if dbg["ConsulRaftHeartbeatTimeout"] != "2s" || dbg["ConsulRaftElectionTimeout"] != "2s" || dbg["ConsulRaftLeaderLeaseTimeout"] != "1s" {
		t.Fatalf("raft timeouts with multiplier 2: %v", dbg)
	}
	if _, err := cl.KV().Put(&api.KVPair{Key: "mult", Value: []byte("2")}, nil); err != nil {
		t.Fatal(err)
	}
	// Without the setting: Meridian's own timings, Consul's multiplier 1.
	plain := testcluster.New(t, testcluster.Options{Servers: 1})
	self, err = client(t, plain.WaitForLeader(30*time.Second)).Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if dbg := self["DebugConfig"]; dbg["ConsulRaftHeartbeatTimeout"] != "1s" || dbg["ConsulRaftLeaderLeaseTimeout"] != "500ms" {
		t.Fatalf("default raft timeouts: %v", dbg)
	}
}

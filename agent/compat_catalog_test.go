package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

func TestConsulAPICatalogCompat(t *testing.T) {
	c := cluster(t)
	c.WaitForLeader(10 * time.Second)
	fnode := c.Followers()[0]
	fc := client(t, fnode)

	t.Run("MembersBecomeNodesWithSerfHealth", func(t *testing.T) {
		testcluster.WaitFor(t, 10*time.Second, func() error {
			nodes, _, err := fc.Catalog().Nodes(nil)
			if err != nil {
				return err
			}
			if len(nodes) != 3 {
				return fmt.Errorf("%d nodes", len(nodes))
			}
			checks, _, err := fc.Health().State("passing", nil)
			if err != nil {
				return err
			}
			serf := 0
			for _, ch := range checks {
				if ch.CheckID == "serfHealth" {
					serf++
				}
			}
			if serf != 3 {
				return fmt.Errorf("%d passing serfHealth checks", serf)
			}
			return nil
		})
		consul, _, err := fc.Catalog().Service("consul", "", nil)
		if err != nil || len(consul) != 3 {
			t.Fatalf("consul service instances = %d %v", len(consul), err)
		}
		// ?near=_agent puts the asking agent's own node first: its
		// distance to itself is zero.
		self := fnode.Name
		near, _, err := fc.Catalog().Service("consul", "", &api.QueryOptions{Near: "_agent"})
		if err != nil || len(near) != 3 || near[0].Node != self {
			t.Fatalf("near=_agent: first is %v, want %s (%v)", near, self, err)
		}
		entries, _, err := fc.Health().Service("consul", "", false, &api.QueryOptions{Near: self})
		if err != nil || len(entries) != 3 || entries[0].Node.Node != self {
			t.Fatalf("health near: %v %v", entries, err)
		}
	})

	t.Run("RegisterQueryDeregister", func(t *testing.T) {
		reg := &api.CatalogRegistration{
			Node: "ext-1", Address: "10.1.0.1", NodeMeta: map[string]string{"rack": "r1"},
			Service: &api.AgentService{ID: "redis-1", Service: "redis", Tags: []string{"primary", "v7"}, Port: 6379},
			Checks:  api.HealthChecks{{CheckID: "redis-alive", Name: "redis alive", ServiceID: "redis-1", Status: api.HealthPassing}},
		}
		if _, err := fc.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
		reg2 := &api.CatalogRegistration{
			Node: "ext-2", Address: "10.1.0.2", NodeMeta: map[string]string{"rack": "r2"},
			Service: &api.AgentService{ID: "redis-2", Service: "redis", Tags: []string{"replica"}, Port: 6380},
			Check:   &api.AgentCheck{CheckID: "redis-alive", Name: "redis alive", ServiceID: "redis-2", Status: api.HealthCritical},
		}
		if _, err := fc.Catalog().Register(reg2, nil); err != nil {
			t.Fatal(err)
		}
		svcs, _, err := fc.Catalog().Service("redis", "primary", nil)
		if err != nil || len(svcs) != 1 || svcs[0].ServicePort != 6379 || svcs[0].NodeMeta["rack"] != "r1" {
			t.Fatalf("tag filter: %+v %v", svcs, err)
		}
		services, _, err := fc.Catalog().Services(nil)
		if err != nil || len(services["redis"]) != 3 {
			t.Fatalf("services = %v %v", services, err)
		}
		entries, _, err := fc.Health().Service("redis", "", true, nil)
		if err != nil || len(entries) != 1 || entries[0].Service.ID != "redis-1" {
			t.Fatalf("passing = %+v %v", entries, err)
		}
		entries, _, err = fc.Health().Service("redis", "", false, &api.QueryOptions{NodeMeta: map[string]string{"rack": "r2"}})
		if err != nil || len(entries) != 1 || entries[0].Checks.AggregatedStatus() != api.HealthCritical {
			t.Fatalf("node-meta = %+v %v", entries, err)
		}
		filtered, _, err := fc.Catalog().Service("redis", "", &api.QueryOptions{Filter: `ServicePort == 6380`})
		if err != nil || len(filtered) != 1 || filtered[0].ServiceID != "redis-2" {
			t.Fatalf("filter = %+v %v", filtered, err)
		}
		node, _, err := fc.Catalog().Node("ext-1", nil)
		if err != nil || node == nil || node.Services["redis-1"] == nil {
			t.Fatalf("node = %+v %v", node, err)
		}
		if missing, _, err := fc.Catalog().Node("ghost", nil); err != nil || missing != nil {
			t.Fatalf("missing node = %+v %v", missing, err)
		}
		if _, err := fc.Catalog().Deregister(&api.CatalogDeregistration{Node: "ext-2"}, nil); err != nil {
			t.Fatal(err)
		}
		if svcs, _, _ := fc.Catalog().Service("redis", "", nil); len(svcs) != 1 {
			t.Fatalf("after deregister: %d instances", len(svcs))
		}
	})

	t.Run("BlockingHealthServiceWakesOnCheckChange", func(t *testing.T) {
		reg := &api.CatalogRegistration{
			Node: "ext-3", Address: "10.1.0.3",
			Service: &api.AgentService{ID: "api-1", Service: "api", Port: 8080},
			Check:   &api.AgentCheck{CheckID: "api-up", Name: "api up", ServiceID: "api-1", Status: api.HealthCritical},
		}
		if _, err := fc.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
		entries, meta, err := fc.Health().Service("api", "", true, nil)
		if err != nil || len(entries) != 0 {
			t.Fatalf("initial passing = %v %v", entries, err)
		}
		done := make(chan []*api.ServiceEntry, 1)
		go func() {
			e, _, err := fc.Health().Service("api", "", true, &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
			if err != nil {
				t.Error(err)
			}
			done <- e
		}()
		reg.Check.Status = api.HealthPassing
		if _, err := fc.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-done:
			if len(e) != 1 {
				t.Fatalf("woke with %d passing entries", len(e))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("blocking health query did not wake")
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		cases := []*api.CatalogRegistration{
			{Address: "10.0.0.9"},
			{Node: "x"},
			{Node: "x", Address: "1.1.1.1", Service: &api.AgentService{ID: "noname"}},
			{Node: "x", Address: "1.1.1.1", Check: &api.AgentCheck{CheckID: "c", Status: "sideways"}},
		}
		for i, reg := range cases {
			if _, err := fc.Catalog().Register(reg, nil); err == nil {
				t.Errorf("case %d accepted", i)
			}
		}
		if n, _, _ := fc.Catalog().Node("x", nil); n != nil {
			t.Fatal("a refused registration left node x")
		}
	})
}

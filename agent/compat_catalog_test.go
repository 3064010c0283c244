package agent_test

import (
	"errors"
	"fmt"
	"reflect"
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

	// Consul's ?filter= on /v1/catalog/services applies to the service
	// instances; the answer maps the names of matching instances to their
	// tags only.
	t.Run("ServicesFilter", func(t *testing.T) {
		for _, reg := range []*api.CatalogRegistration{
			{Node: "flt-1", Address: "10.2.0.1", NodeMeta: map[string]string{"rack": "r1"},
				Service: &api.AgentService{ID: "cache-1", Service: "cache", Tags: []string{"b", "a"}, Meta: map[string]string{"env": "prod"}}},
			{Node: "flt-2", Address: "10.2.0.2", NodeMeta: map[string]string{"rack": "r2"},
				Service: &api.AgentService{ID: "cache-2", Service: "cache", Tags: []string{"c"}, Meta: map[string]string{"env": "dev"}}},
			{Node: "flt-2", Address: "10.2.0.2", NodeMeta: map[string]string{"rack": "r2"},
				Service: &api.AgentService{ID: "queue-1", Service: "queue", Tags: []string{"q"}, Meta: map[string]string{"env": "prod"}}},
		} {
			if _, err := fc.Catalog().Register(reg, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			filter   string
			nodeMeta map[string]string
			want     map[string][]string
		}{
			{`ServiceMeta.env == prod`, nil, map[string][]string{"cache": {"a", "b"}, "queue": {"q"}}},
			{`ServiceName == cache and NodeMeta.rack == r2`, nil, map[string][]string{"cache": {"c"}}},
			{`"c" in ServiceTags`, nil, map[string][]string{"cache": {"c"}}},
			{`Node == "flt-1"`, nil, map[string][]string{"cache": {"a", "b"}}},
			{`ServiceID == "queue-1" and Address == "10.2.0.2"`, nil, map[string][]string{"queue": {"q"}}},
			{`ServiceName == queue`, map[string]string{"rack": "r1"}, map[string][]string{}},
			{`ServiceName == nothing`, nil, map[string][]string{}},
		} {
			for name, cl := range map[string]*api.Client{"follower": fc, "leader": client(t, c.WaitForLeader(10*time.Second))} {
				got, meta, err := cl.Catalog().Services(&api.QueryOptions{Filter: tc.filter, NodeMeta: tc.nodeMeta})
				if err != nil || !reflect.DeepEqual(got, tc.want) || meta.LastIndex == 0 {
					t.Errorf("%s: filter %q node-meta %v = %v (index %d) %v, want %v", name, tc.filter, tc.nodeMeta, got, meta.LastIndex, err, tc.want)
				}
			}
		}
		// Without a filter, nothing changes: every service, every tag.
		all, _, err := fc.Catalog().Services(nil)
		if err != nil || !reflect.DeepEqual(all["cache"], []string{"a", "b", "c"}) || all["consul"] == nil {
			t.Fatalf("unfiltered services = %v %v", all, err)
		}
		// A bad expression is a 400, as on the other catalog endpoints.
		_, _, err = fc.Catalog().Services(&api.QueryOptions{Filter: `ServiceName ==`})
		var se api.StatusError
		if !errors.As(err, &se) || se.Code != 400 {
			t.Fatalf("bad filter: %v", err)
		}
		// A filtered blocking query wakes on a change and answers with it.
		_, meta, err := fc.Catalog().Services(&api.QueryOptions{Filter: `ServiceMeta.env == prod`})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan map[string][]string, 1)
		go func() {
			got, _, err := fc.Catalog().Services(&api.QueryOptions{Filter: `ServiceMeta.env == prod`, WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
		if _, err := fc.Catalog().Register(&api.CatalogRegistration{Node: "flt-3", Address: "10.2.0.3",
			Service: &api.AgentService{ID: "cache-3", Service: "cache", Tags: []string{"d"}, Meta: map[string]string{"env": "prod"}}}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if want := map[string][]string{"cache": {"a", "b", "d"}, "queue": {"q"}}; !reflect.DeepEqual(got, want) {
				t.Fatalf("woke with %v, want %v", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("filtered blocking services query did not wake")
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

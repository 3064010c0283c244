package agent_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestPreparedQueryFailoverAcrossDCs drives prepared queries through the
// official client in three datacenters: a service with no healthy
// instance in dc1 is answered by the next datacenter that has one, over
// HTTP and DNS.
func TestPreparedQueryFailoverAcrossDCs(t *testing.T) {
	f := testcluster.NewFederation(t, 3, testcluster.Options{Servers: 1, Clients: 1})
	cl := map[string]*api.Client{}
	for _, name := range []string{"dc1", "dc2", "dc3"} {
		cl[name] = client(t, f.DC(name).Clients()[0])
	}
	c1 := cl["dc1"]
	// pay runs on one node per datacenter; its check says how it is.
	setPay := func(dc, status string) {
		t.Helper()
		_, err := cl[dc].Catalog().Register(&api.CatalogRegistration{
			Node: "pay-" + dc, Address: "10.77.0." + dc[2:],
			Service: &api.AgentService{ID: "pay", Service: "pay", Port: 7000, Tags: []string{"v1"}},
			Checks:  api.HealthChecks{{Node: "pay-" + dc, CheckID: "pay-up", Name: "pay up", ServiceID: "pay", Status: status}},
		}, nil)
		if err != nil {
			t.Fatalf("register pay in %s: %v", dc, err)
		}
	}
	setPay("dc1", api.HealthCritical)
	setPay("dc2", api.HealthPassing)
	setPay("dc3", api.HealthCritical)

	pq := c1.PreparedQuery()
	id, _, err := pq.Create(&api.PreparedQueryDefinition{
		Name: "pay", Service: api.ServiceQuery{Service: "pay", Tags: []string{"v1", "!old"},
			Failover: api.QueryFailoverOptions{Datacenters: []string{"dc2", "dc3"}}},
		DNS: api.QueryDNSOptions{TTL: "7s"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nearest, _, err := pq.Create(&api.PreparedQueryDefinition{
		Name: "pay-nearest", Service: api.ServiceQuery{Service: "pay", Failover: api.QueryFailoverOptions{NearestN: 2}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(name, wantDC string, wantFailovers int) {
		t.Helper()
		testcluster.WaitFor(t, 10*time.Second, func() error {
			res, meta, err := pq.Execute(name, nil)
			if err != nil {
				return err
			}
			if res.Datacenter != wantDC || res.Failovers != wantFailovers || len(res.Nodes) != 1 ||
				res.Nodes[0].Node.Node != "pay-"+wantDC || res.Service != "pay" || meta.LastIndex == 0 {
				return fmt.Errorf("%s: datacenter %q, failovers %d, service %q, %d nodes %v",
					name, res.Datacenter, res.Failovers, res.Service, len(res.Nodes), res.Nodes)
			}
			return nil
		})
	}

	t.Run("HealthyOnlyInDC2", func(t *testing.T) {
		expect("pay", "dc2", 1)
		expect(id, "dc2", 1)
		// NearestN follows the WAN router's RTT order.
		order := slices.DeleteFunc(f.DC("dc1").Servers()[0].Agent.Server().Datacenters(), func(dc string) bool { return dc == "dc1" })
		expect(nearest, "dc2", slices.Index(order, "dc2")+1)
		res, _, err := pq.Execute("pay", nil)
		if err != nil || res.DNS.TTL != "7s" {
			t.Fatalf("DNS TTL %+v, %v", res.DNS, err)
		}
	})

	t.Run("DNSAnswersWithTheFailover", func(t *testing.T) {
		addr := f.DC("dc1").Clients()[0].Agent.DNSAddr()
		r := query(t, "udp", addr, "pay.query.consul.", dns.TypeA, 0)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("pay.query.consul: %s %v", dns.RcodeToString[r.Rcode], r.Answer)
		}
		a, ok := r.Answer[0].(*dns.A)
		if !ok || a.A.String() != "10.77.0.2" || a.Hdr.Ttl != 7 {
			t.Fatalf("pay.query.consul answered %v, want dc2's 10.77.0.2 with TTL 7", r.Answer[0])
		}
		srv := query(t, "udp", addr, "pay.query.consul.", dns.TypeSRV, 0)
		if got := answerSet(srv.Answer); got != "pay.query.consul. 0 IN SRV 1 1 7000 pay-dc2.node.dc2.consul." {
			t.Fatalf("SRV: %s", got)
		}
		if r := query(t, "udp", addr, "nope.query.consul.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
			t.Fatalf("unknown query: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	})

	t.Run("DC2CriticalDC3Healthy", func(t *testing.T) {
		setPay("dc2", api.HealthCritical)
		setPay("dc3", api.HealthPassing)
		expect("pay", "dc3", 2)
		addr := f.DC("dc1").Clients()[0].Agent.DNSAddr()
		r := query(t, "udp", addr, "pay.query.consul.", dns.TypeA, 0)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.77.0.3" {
			t.Fatalf("after dc2 went critical DNS answered %v, want dc3's 10.77.0.3", r.Answer)
		}
	})

	t.Run("TemplateMatchesByPrefix", func(t *testing.T) {
		_, _, err := pq.Create(&api.PreparedQueryDefinition{
			Name:     "geo-",
			Template: api.QueryTemplate{Type: "name_prefix_match", Regexp: "^geo-(.+)$"},
			Service:  api.ServiceQuery{Service: "${match(1)}", Failover: api.QueryFailoverOptions{Datacenters: []string{"dc2", "dc3"}}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		expect("geo-pay", "dc3", 2)
		res, _, err := pq.Execute("geo-nothing", nil)
		if err != nil || res.Service != "nothing" || len(res.Nodes) != 0 {
			t.Fatalf("geo-nothing: %+v, %v", res, err)
		}
		var explain struct{ Query api.PreparedQueryDefinition }
		if _, err := c1.Raw().Query("/v1/query/geo-pay/explain", &explain, nil); err != nil {
			t.Fatal(err)
		}
		if explain.Query.Service.Service != "pay" || explain.Query.Name != "geo-" {
			t.Fatalf("explain: %+v", explain.Query)
		}
	})

	t.Run("CRUD", func(t *testing.T) {
		list, _, err := pq.List(nil)
		if err != nil || len(list) != 3 {
			t.Fatalf("list: %d queries, %v", len(list), err)
		}
		got, _, err := pq.Get(id, nil)
		if err != nil || len(got) != 1 || got[0].Name != "pay" || got[0].Service.Failover.Datacenters[1] != "dc3" {
			t.Fatalf("get: %+v, %v", got, err)
		}
		def := got[0]
		def.Service.OnlyPassing = true
		if _, err := pq.Update(def, nil); err != nil {
			t.Fatal(err)
		}
		got, _, err = pq.Get(id, nil)
		if err != nil || !got[0].Service.OnlyPassing {
			t.Fatalf("after update: %+v, %v", got, err)
		}
		// Read from dc2: the query lives in dc1 only.
		if _, _, err := pq.Get(id, &api.QueryOptions{Datacenter: "dc2"}); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("get in dc2: %v, want 404", err)
		}
		if _, err := pq.Delete(nearest, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := pq.Execute(nearest, nil); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("execute deleted query: %v, want 404", err)
		}
	})

	t.Run("BadDefinitions", func(t *testing.T) {
		httpAddr := f.DC("dc1").Clients()[0].HTTPAddr
		for name, body := range map[string]string{
			"unknown field":    `{"Name":"x","Service":{"Service":"pay","Colour":"blue"}}`,
			"unknown top":      `{"Name":"x","Servcie":{"Service":"pay"}}`,
			"empty service":    `{"Name":"x","Service":{"Service":""}}`,
			"bad regexp":       `{"Name":"re-","Template":{"Type":"name_prefix_match","Regexp":"(["},"Service":{"Service":"pay"}}`,
			"template no name": `{"Template":{"Type":"name_prefix_match"},"Service":{"Service":"pay"}}`,
			"not json":         `{"Name":`,
		} {
			code, msg := do(t, http.MethodPost, "http://"+httpAddr+"/v1/query", body)
			if code != http.StatusBadRequest || strings.Count(strings.TrimSpace(msg), "\n") != 0 || len(msg) == 0 {
				t.Errorf("%s: %d %q, want 400 with a one-line reason", name, code, msg)
			}
		}
		_, _, err := pq.Create(&api.PreparedQueryDefinition{Name: "empty"}, nil)
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("empty service through the client: %v", err)
		}
	})
}

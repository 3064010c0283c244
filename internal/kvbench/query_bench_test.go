package kvbench

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkPreparedQuery executes prepared queries through dc1's client
// agent: one answered by dc1's 10 healthy instances (local), and one
// whose dc1 instances are all critical, answered by dc2's 10 after a
// failover (client agent -> dc1 leader -> dc2 server), with 1 and 8
// concurrent clients.
func BenchmarkPreparedQuery(b *testing.B) {
	f := testcluster.NewFederation(b, 2, testcluster.Options{Servers: 1, Clients: 1})
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	cl, err := api.NewClient(&api.Config{Address: f.DC("dc1").Clients()[0].HTTPAddr, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	register := func(dc, service, status string) {
		for i := range 10 {
			node := fmt.Sprintf("%s-%s-%d", service, dc, i)
			_, err := cl.Catalog().Register(&api.CatalogRegistration{
				Node: node, Address: fmt.Sprintf("10.50.%d.%d", len(dc), i),
				Service: &api.AgentService{ID: service, Service: service, Port: 80},
				Checks:  api.HealthChecks{{Node: node, CheckID: "up", Name: "up", ServiceID: service, Status: status}},
			}, &api.WriteOptions{Datacenter: dc})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	register("dc1", "web", api.HealthPassing)
	register("dc1", "pay", api.HealthCritical)
	register("dc2", "pay", api.HealthPassing)
	for _, svc := range []string{"web", "pay"} {
		_, _, err := cl.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: svc, Service: api.ServiceQuery{
			Service: svc, Failover: api.QueryFailoverOptions{NearestN: 1}}}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	execute := func(name, wantDC string) func(*api.Client) error {
		return func(c *api.Client) error {
			res, _, err := c.PreparedQuery().Execute(name, nil)
			if err == nil && (res.Datacenter != wantDC || len(res.Nodes) != 10) {
				err = fmt.Errorf("%s: %d nodes from %s, want 10 from %s", name, len(res.Nodes), res.Datacenter, wantDC)
			}
			return err
		}
	}
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("local/c%d", workers), func(b *testing.B) { drive(b, []*api.Client{cl}, workers, execute("web", "dc1")) })
		b.Run(fmt.Sprintf("failover/c%d", workers), func(b *testing.B) { drive(b, []*api.Client{cl}, workers, execute("pay", "dc2")) })
	}
}

package kvbench

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkAllDCs measures ?dc=* reads over three one-server
// datacenters of 100 services each (on loopback, no WAN latency), against
// the same read of the local datacenter alone, through dc1's server
// agent: the catalog's service list and one service's health.
func BenchmarkAllDCs(b *testing.B) {
	f := testcluster.NewFederation(b, 3, testcluster.Options{Servers: 1})
	var clients []*api.Client
	for _, c := range f.DCs {
		clients = append(clients, newClients(b, c)...)
	}
	for d, cl := range clients {
		for i := range 100 {
			reg := &api.CatalogRegistration{
				Node: fmt.Sprintf("node-%d", i%10), Address: fmt.Sprintf("10.%d.0.%d", d, i%10),
				Service: &api.AgentService{ID: fmt.Sprintf("svc-%d", i), Service: fmt.Sprintf("svc-%d", i), Port: 8000 + i, Tags: []string{"v1"}},
				Check:   &api.AgentCheck{CheckID: fmt.Sprintf("chk-%d", i), Name: "alive", ServiceID: fmt.Sprintf("svc-%d", i), Status: api.HealthPassing},
			}
			if _, err := cl.Catalog().Register(reg, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	dc1 := clients[:1]
	local := &api.QueryOptions{}
	all := &api.QueryOptions{Datacenter: "*"}
	services := func(q *api.QueryOptions, want int) func(*api.Client) error {
		return func(cl *api.Client) error {
			s, _, err := cl.Catalog().Services(q)
			if err == nil && len(s) != want {
				err = fmt.Errorf("%d services, want %d", len(s), want)
			}
			return err
		}
	}
	health := func(q *api.QueryOptions, want int) func(*api.Client) error {
		return func(cl *api.Client) error {
			e, _, err := cl.Health().Service("svc-42", "", true, q)
			if err == nil && len(e) != want {
				err = fmt.Errorf("%d instances, want %d", len(e), want)
			}
			return err
		}
	}
	// 100 services plus each datacenter's "consul".
	testcluster.WaitFor(b, 10*time.Second, func() error { return services(all, 101)(dc1[0]) })
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("catalog-services/local/c%d", workers), func(b *testing.B) { drive(b, dc1, workers, services(local, 101)) })
		b.Run(fmt.Sprintf("catalog-services/all/c%d", workers), func(b *testing.B) { drive(b, dc1, workers, services(all, 101)) })
		b.Run(fmt.Sprintf("health-service/local/c%d", workers), func(b *testing.B) { drive(b, dc1, workers, health(local, 1)) })
		b.Run(fmt.Sprintf("health-service/dc2/c%d", workers), func(b *testing.B) {
			drive(b, dc1, workers, health(&api.QueryOptions{Datacenter: "dc2"}, 1))
		})
		b.Run(fmt.Sprintf("health-service/all/c%d", workers), func(b *testing.B) { drive(b, dc1, workers, health(all, 3)) })
	}
}

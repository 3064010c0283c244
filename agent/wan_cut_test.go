package agent_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestOneWayWANCutFailsFast cuts the WAN link between two datacenters in
// one direction only (dc2's traffic to dc1 is lost, dc1's gets through):
// the RPC sessions between them stay open and gossip is unsure for
// seconds (a one-way cut may never make it drop a server). Every server's
// first request naming the other datacenter, made right after the cut,
// still fails within 5 s on both sides (the pool's pings go unanswered),
// and requests work again once the link heals.
func TestOneWayWANCutFailsFast(t *testing.T) {
	nw := faultnet.New()
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 3, Network: nw})
	dcs := []struct {
		c     *testcluster.Cluster
		other string
	}{{f.DC("dc1"), "dc2"}, {f.DC("dc2"), "dc1"}}
	hc := &http.Client{Timeout: 30 * time.Second}
	read := func(n *testcluster.Node, dc string) error {
		c, err := api.NewClient(&api.Config{Address: n.HTTPAddr, HttpClient: hc})
		if err != nil {
			return err
		}
		_, _, err = c.KV().Get("cut/probe", &api.QueryOptions{Datacenter: dc})
		return err
	}
	// Every server has a session to the other datacenter before the cut.
	for _, d := range dcs {
		for _, n := range d.c.Servers() {
			testcluster.WaitFor(t, 30*time.Second, func() error { return read(n, d.other) })
		}
	}

	var from, to []string
	for _, n := range f.DC("dc2").Servers() {
		from = append(from, n.Name)
	}
	for _, n := range f.DC("dc1").Servers() {
		to = append(to, n.Name)
	}
	nw.CutGroups(from, to)
	const bound = 5 * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for _, d := range dcs {
		for _, n := range d.c.Servers() {
			wg.Go(func() {
				start := time.Now()
				err := read(n, d.other)
				took := time.Since(start)
				switch {
				case err == nil:
					errs <- fmt.Errorf("%s read %s across a one-way cut", n.Name, d.other)
				case took > bound:
					errs <- fmt.Errorf("%s ?dc=%s failed after %s (%v), want within %s", n.Name, d.other, took, err, bound)
				default:
					t.Logf("%s ?dc=%s failed after %s: %v", n.Name, d.other, took.Round(time.Millisecond), err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	nw.HealPartition(from, to)
	for _, d := range dcs {
		for _, n := range d.c.Servers() {
			testcluster.WaitFor(t, 30*time.Second, func() error { return read(n, d.other) })
		}
	}
}

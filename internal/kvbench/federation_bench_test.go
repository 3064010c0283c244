package kvbench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkFederation reads a key through dc1's client agent, from dc1
// itself and from dc2 (?dc=dc2: client agent -> dc1 server -> dc2 server
// over the pooled connections), with 1 and 8 concurrent clients. The goal
// is a forwarded p50 at most 1.5x the local one.
func BenchmarkFederation(b *testing.B) {
	f := testcluster.NewFederation(b, 2, testcluster.Options{Servers: 3, Clients: 1})
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	cl, err := api.NewClient(&api.Config{Address: f.DC("dc1").Clients()[0].HTTPAddr, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 256)
	for _, dc := range []string{"dc1", "dc2"} {
		for i := range 100 {
			kv := &api.KVPair{Key: fmt.Sprintf("read/%d", i), Value: value}
			if _, err := cl.KV().Put(kv, &api.WriteOptions{Datacenter: dc}); err != nil {
				b.Fatal(err)
			}
		}
	}
	get := func(dc string) func(*api.Client) error {
		var seq atomic.Int64
		return func(c *api.Client) error {
			key := fmt.Sprintf("read/%d", seq.Add(1)%100)
			kv, _, err := c.KV().Get(key, &api.QueryOptions{Datacenter: dc})
			if err == nil && kv == nil {
				err = fmt.Errorf("%s missing in %s", key, dc)
			}
			return err
		}
	}
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("get-local/c%d", workers), func(b *testing.B) { drive(b, []*api.Client{cl}, workers, get("")) })
		b.Run(fmt.Sprintf("get-dc2/c%d", workers), func(b *testing.B) { drive(b, []*api.Client{cl}, workers, get("dc2")) })
	}
}

// BenchmarkFederationDCLoss measures how fast dc1's servers stop routing
// to dc2 once all of dc2's servers have crashed (drop-ms: until every dc1
// server's router answers ServersFor("dc2") with an error), how fast they
// route again once dc2's servers restart (return-ms: until every router
// has dc2 servers again), and when a read of dc2 through dc1 answers
// (answer-ms, which also waits for dc2 to elect a leader). Each iteration
// crashes and restarts dc2 once: run it with -benchtime=3x.
func BenchmarkFederationDCLoss(b *testing.B) {
	f := testcluster.NewFederation(b, 2, testcluster.Options{Servers: 3})
	dc1, dc2 := f.DC("dc1"), f.DC("dc2")
	cl, err := api.NewClient(&api.Config{Address: dc1.Servers()[0].HTTPAddr})
	if err != nil {
		b.Fatal(err)
	}
	routed := func(want bool) func() error {
		return func() error {
			for _, s := range dc1.Servers() {
				_, err := s.Agent.WANRouter().ServersFor("dc2")
				if (err == nil) != want {
					return fmt.Errorf("%s: ServersFor(dc2) error %v, want routed=%v", s.Name, err, want)
				}
			}
			return nil
		}
	}
	answers := func() error {
		_, _, err := cl.KV().Get("probe", &api.QueryOptions{Datacenter: "dc2"})
		return err
	}
	var drops, returns, answered []time.Duration
	b.ResetTimer()
	for range b.N {
		servers := dc2.Servers()
		t0 := time.Now()
		for _, s := range servers {
			dc2.Stop(s)
		}
		waitPrecise(b, 30*time.Second, routed(false))
		drops = append(drops, time.Since(t0))
		t0 = time.Now()
		for _, s := range servers {
			dc2.Start(s)
		}
		waitPrecise(b, 30*time.Second, routed(true))
		returns = append(returns, time.Since(t0))
		waitPrecise(b, 30*time.Second, answers)
		answered = append(answered, time.Since(t0))
	}
	b.StopTimer()
	for name, ds := range map[string][]time.Duration{"drop": drops, "return": returns, "answer": answered} {
		b.ReportMetric(float64(slices.Max(ds).Microseconds())/1000, name+"-max-ms")
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		b.ReportMetric(float64(sum.Microseconds())/1000/float64(len(ds)), name+"-ms")
	}
}

// BenchmarkFederationWANCut measures how fast requests naming another
// datacenter fail when the WAN link to it goes dark under open
// connections, both ways (even iterations) or one way, dc2's replies
// lost (odd ones): the first request right after the cut (its session
// open and just used, gossip unaware), the request after it, and from
// the heal until requests answer again.
func BenchmarkFederationWANCut(b *testing.B) {
	nw := faultnet.New()
	f := testcluster.NewFederation(b, 2, testcluster.Options{Servers: 3, Network: nw})
	names := func(c *testcluster.Cluster) []string {
		var out []string
		for _, s := range c.Servers() {
			out = append(out, s.Name)
		}
		return out
	}
	dc1, dc2 := names(f.DC("dc1")), names(f.DC("dc2"))
	cl, err := api.NewClient(&api.Config{Address: f.DC("dc1").Servers()[0].HTTPAddr, HttpClient: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	read := func() error {
		_, _, err := cl.KV().Get("probe", &api.QueryOptions{Datacenter: "dc2"})
		return err
	}
	var first, next, heal []time.Duration
	b.ResetTimer()
	for i := range b.N {
		waitPrecise(b, 60*time.Second, read)
		if i%2 == 0 {
			nw.Partition(dc1, dc2)
		} else {
			nw.CutGroups(dc2, dc1)
		}
		for _, into := range []*[]time.Duration{&first, &next} {
			t0 := time.Now()
			if err := read(); err == nil {
				b.Fatal("a read of dc2 succeeded across the cut")
			}
			*into = append(*into, time.Since(t0))
		}
		nw.HealPartition(dc1, dc2)
		t0 := time.Now()
		waitPrecise(b, 60*time.Second, read)
		heal = append(heal, time.Since(t0))
	}
	b.StopTimer()
	for name, ds := range map[string][]time.Duration{"first": first, "next": next, "heal": heal} {
		b.ReportMetric(float64(slices.Max(ds).Microseconds())/1000, name+"-max-ms")
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		b.ReportMetric(float64(sum.Microseconds())/1000/float64(len(ds)), name+"-ms")
	}
}

// waitPrecise polls cond every millisecond (the measured times are a few
// seconds or less) until it returns nil, failing after timeout.
func waitPrecise(b *testing.B, timeout time.Duration, cond func() error) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("not after %s: %v", timeout, err)
		case <-tick.C:
		}
	}
}

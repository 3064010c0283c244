package agent_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// getAllDC reads path?dc=* from addr over plain HTTP, decoding the body
// into out, and returns the response headers.
func getAllDC(t *testing.T, addr, path string, out any) http.Header {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.Header
}

// TestAllDatacenters reads the catalog and health of two datacenters at
// once (?dc=*) through the official client: every entry once per
// datacenter with its Datacenter, nearest first; a blocking read wakes on
// a change in the other datacenter; with that datacenter's servers
// stopped the local entries still come back in time and the header names
// it.
func TestAllDatacenters(t *testing.T) {
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 1, Clients: 1})
	dc1, dc2 := f.DC("dc1"), f.DC("dc2")
	c1, c2 := client(t, dc1.Clients()[0]), client(t, dc2.Clients()[0])
	all := &api.QueryOptions{Datacenter: "*"}
	for i, c := range []*api.Client{c1, c2} {
		reg := &api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080 + i, Tags: []string{fmt.Sprintf("dc%d-tag", i+1)}}
		if err := c.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}
	var meta *api.QueryMeta
	testcluster.WaitFor(t, 20*time.Second, func() error {
		entries, m, err := c1.Catalog().Service("web", "", all)
		if err != nil {
			return err
		}
		var dcs []string
		for _, e := range entries {
			dcs = append(dcs, e.Datacenter)
		}
		if !slices.Equal(dcs, []string{"dc1", "dc2"}) {
			return fmt.Errorf("web in datacenters %v, want [dc1 dc2] (nearest first)", dcs)
		}
		if entries[0].ServicePort != 8080 || entries[1].ServicePort != 8081 {
			return fmt.Errorf("ports %d, %d: entries under the wrong datacenter", entries[0].ServicePort, entries[1].ServicePort)
		}
		meta = m
		return nil
	})

	t.Run("HealthAndNodesAndServices", func(t *testing.T) {
		entries, _, err := c1.Health().Service("web", "", false, all)
		if err != nil || len(entries) != 2 || entries[0].Node.Datacenter != "dc1" || entries[1].Node.Datacenter != "dc2" {
			t.Fatalf("health of web everywhere: %+v, %v", entries, err)
		}
		nodes, _, err := c1.Catalog().Nodes(all)
		if err != nil {
			t.Fatal(err)
		}
		perDC := map[string]int{}
		for _, n := range nodes {
			perDC[n.Datacenter]++
		}
		if perDC["dc1"] != 2 || perDC["dc2"] != 2 || len(perDC) != 2 || nodes[0].Datacenter != "dc1" {
			t.Fatalf("nodes per datacenter %v (first %s), want 2 in each, dc1 first", perDC, nodes[0].Datacenter)
		}
		services, _, err := c1.Catalog().Services(all)
		if err != nil || !slices.Equal(services["web"], []string{"dc1-tag", "dc2-tag"}) {
			t.Fatalf("services everywhere: %v, %v; want web with the tags of both", services, err)
		}
		var raw map[string][]string
		h := getAllDC(t, dc1.Clients()[0].HTTPAddr, "/v1/catalog/services?dc=*", &raw)
		var where map[string][]string
		if err := json.Unmarshal([]byte(h.Get("X-Meridian-Service-Datacenters")), &where); err != nil || !slices.Equal(where["web"], []string{"dc1", "dc2"}) {
			t.Fatalf("X-Meridian-Service-Datacenters %q (%v)", h.Get("X-Meridian-Service-Datacenters"), err)
		}
		var checks []struct{ Node, CheckID, Datacenter string }
		getAllDC(t, dc1.Clients()[0].HTTPAddr, "/v1/health/state/any?dc=*", &checks)
		seen := map[string]bool{}
		for _, c := range checks {
			seen[c.Datacenter] = true
		}
		if !seen["dc1"] || !seen["dc2"] || len(seen) != 2 {
			t.Fatalf("checks of datacenters %v", seen)
		}
		// Endpoints outside the list reads refuse it clearly.
		resp, err := http.Get("http://" + dc1.Clients()[0].HTTPAddr + "/v1/kv/x?dc=*")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("/v1/kv?dc=*: %d, want 400", resp.StatusCode)
		}
	})

	t.Run("BlockingWakesOnAnotherDatacenter", func(t *testing.T) {
		type result struct {
			n   int
			err error
			at  time.Time
		}
		results := make(chan result, 100)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			index := meta.LastIndex
			for {
				q := &api.QueryOptions{Datacenter: "*", WaitIndex: index, WaitTime: 30 * time.Second}
				entries, m, err := c1.Catalog().Service("web", "", q)
				select {
				case results <- result{len(entries), err, time.Now()}:
				case <-stop:
					return
				}
				if err != nil || len(entries) == 3 {
					return
				}
				index = m.LastIndex
			}
		}()
		t.Cleanup(func() { close(stop); <-done })
		// Before the change the watch blocks: at most a spurious wake-up,
		// never a loop of answers.
		select {
		case <-time.After(300 * time.Millisecond):
		case <-done:
			t.Fatal("the watch ended before any change")
		}
		if n := len(results); n > 1 {
			t.Fatalf("%d answers before any change: the read does not block", n)
		}
		wrote := time.Now()
		if err := c2.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web-2", Name: "web", Port: 9090}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case r := <-results:
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.n == 3 {
					t.Logf("woke %s after the registration in dc2", r.at.Sub(wrote))
					return
				}
			case <-deadline:
				t.Fatal("a blocking ?dc=* read did not wake on a change in dc2")
			}
		}
	})

	t.Run("UnreachableDatacenter", func(t *testing.T) {
		for _, s := range dc2.Servers() {
			dc2.Stop(s)
		}
		start := time.Now()
		entries, _, err := c1.Catalog().Service("web", "", all)
		took := time.Since(start)
		if err != nil || len(entries) != 1 || entries[0].Datacenter != "dc1" {
			t.Fatalf("with dc2 down: %+v, %v; want dc1's entry", entries, err)
		}
		if took > 5*time.Second {
			t.Fatalf("answer took %s, past the 3 s deadline", took)
		}
		var out []map[string]any
		h := getAllDC(t, dc1.Clients()[0].HTTPAddr, "/v1/health/service/web?dc=*", &out)
		if got := h.Get("X-Meridian-Unreachable-Datacenters"); got != "dc2" || len(out) != 1 {
			t.Fatalf("X-Meridian-Unreachable-Datacenters %q with %d entries, want dc2 and 1", got, len(out))
		}
		if _, err := strconv.ParseUint(h.Get("X-Consul-Index"), 10, 64); err != nil {
			t.Fatalf("X-Consul-Index %q is not a number", h.Get("X-Consul-Index"))
		}
	})
}

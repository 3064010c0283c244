package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestFederationWithConsulClient drives two datacenters of three servers
// and a client agent each through the official Go client, as an
// application in dc1 would.
func TestFederationWithConsulClient(t *testing.T) {
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 3, Clients: 1})
	c1 := client(t, f.DC("dc1").Clients()[0])
	c2 := client(t, f.DC("dc2").Clients()[0])
	in := func(dc string) *api.QueryOptions { return &api.QueryOptions{Datacenter: dc} }

	t.Run("Datacenters", func(t *testing.T) {
		dcs, err := c1.Catalog().Datacenters()
		if err != nil || !slices.Equal(dcs, []string{"dc1", "dc2"}) {
			t.Fatalf("datacenters from dc1 = %v, %v; want [dc1 dc2]", dcs, err)
		}
		dcs, err = c2.Catalog().Datacenters()
		if err != nil || !slices.Equal(dcs, []string{"dc2", "dc1"}) {
			t.Fatalf("datacenters from dc2 = %v, %v; want [dc2 dc1], the local one first", dcs, err)
		}
	})

	t.Run("KVLandsInTheNamedDC", func(t *testing.T) {
		if _, err := c1.KV().Put(&api.KVPair{Key: "fed/where", Value: []byte("dc2")}, &api.WriteOptions{Datacenter: "dc2"}); err != nil {
			t.Fatal(err)
		}
		got, _, err := c2.KV().Get("fed/where", nil)
		if err != nil || got == nil || string(got.Value) != "dc2" {
			t.Fatalf("dc2 reads %v, %v", got, err)
		}
		local, _, err := c1.KV().Get("fed/where", nil)
		if err != nil || local != nil {
			t.Fatalf("the write reached dc1 too: %v, %v", local, err)
		}
		remote, meta, err := c1.KV().Get("fed/where", in("dc2"))
		if err != nil || remote == nil || string(remote.Value) != "dc2" || meta.LastIndex == 0 || !meta.KnownLeader {
			t.Fatalf("dc1 reading dc2: %v, %+v, %v", remote, meta, err)
		}
	})

	t.Run("ServiceInAnotherDC", func(t *testing.T) {
		if err := c2.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "pay-1", Name: "payments", Port: 9000, Tags: []string{"v2"}}); err != nil {
			t.Fatal(err)
		}
		testcluster.WaitFor(t, 10*time.Second, func() error {
			entries, _, err := c1.Health().Service("payments", "v2", true, in("dc2"))
			if err != nil {
				return err
			}
			if len(entries) != 1 || entries[0].Service.ID != "pay-1" || entries[0].Node.Datacenter != "dc2" {
				return fmt.Errorf("entries %+v", entries)
			}
			return nil
		})
		local, _, err := c1.Health().Service("payments", "", false, nil)
		if err != nil || len(local) != 0 {
			t.Fatalf("dc1's own catalog has %d payments instances (%v)", len(local), err)
		}
	})

	t.Run("BlockingQueryAcrossDCs", func(t *testing.T) {
		_, meta, err := c1.KV().Get("fed/watched", in("dc2"))
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			pair *api.KVPair
			err  error
			at   time.Time
		}
		done := make(chan result, 1)
		go func() {
			q := &api.QueryOptions{Datacenter: "dc2", WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second}
			p, _, err := c1.KV().Get("fed/watched", q)
			done <- result{p, err, time.Now()}
		}()
		// The watch must not answer before the write.
		select {
		case r := <-done:
			t.Fatalf("blocking query answered before any write: %+v", r)
		case <-time.After(200 * time.Millisecond):
		}
		wrote := time.Now()
		if _, err := c2.KV().Put(&api.KVPair{Key: "fed/watched", Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.pair == nil || string(r.pair.Value) != "x" {
				t.Fatalf("blocking query answered %+v", r)
			}
			if d := r.at.Sub(wrote); d > 2*time.Second {
				t.Fatalf("blocking query woke %s after the write, want within 2s", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("blocking query across datacenters did not wake")
		}
	})

	t.Run("SnapshotOfTheNamedDC", func(t *testing.T) {
		// Saved and restored through a client agent of dc1: the archive
		// is dc2's state, and the restore replaces dc2's alone.
		if _, err := c2.KV().Put(&api.KVPair{Key: "snap/dc2", Value: []byte("kept")}, nil); err != nil {
			t.Fatal(err)
		}
		archive, meta, err := c1.Snapshot().Save(in("dc2"))
		if err != nil {
			t.Fatalf("save dc2 through dc1: %v", err)
		}
		data, err := io.ReadAll(archive)
		archive.Close()
		if err != nil || len(data) == 0 || meta.LastIndex == 0 {
			t.Fatalf("archive of %d bytes at index %d, %v", len(data), meta.LastIndex, err)
		}
		if _, err := c2.KV().Delete("snap/dc2", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c1.KV().Put(&api.KVPair{Key: "snap/dc1", Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c1.Snapshot().Restore(&api.WriteOptions{Datacenter: "dc2"}, strings.NewReader(string(data))); err != nil {
			t.Fatalf("restore dc2 through dc1: %v", err)
		}
		testcluster.WaitFor(t, 30*time.Second, func() error {
			got, _, err := c2.KV().Get("snap/dc2", nil)
			if err != nil || got == nil || string(got.Value) != "kept" {
				return fmt.Errorf("dc2's snap/dc2 after the restore: %v, %v", got, err)
			}
			return nil
		})
		if got, _, err := c1.KV().Get("snap/dc1", nil); err != nil || got == nil {
			t.Fatalf("dc1's own key after dc2's restore: %v, %v", got, err)
		}
		// Consul's headers: the index, and the type net/http sniffs for
		// the gzip archive (Consul sets none of its own).
		resp, err := http.Get("http://" + f.DC("dc1").Clients()[0].HTTPAddr + "/v1/snapshot?dc=dc2&stale")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-gzip" || resp.Header.Get("X-Consul-Index") == "" {
			t.Fatalf("GET /v1/snapshot: %s, headers %v", resp.Status, resp.Header)
		}
		if _, _, err := c1.Snapshot().Save(in("nowhere")); err == nil || !strings.Contains(err.Error(), `No path to datacenter "nowhere")`) {
			t.Fatalf("save of an unknown datacenter: %v", err)
		}
	})

	t.Run("WANMembers", func(t *testing.T) {
		server := client(t, f.DC("dc1").Servers()[0])
		members, err := server.Agent().Members(true)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range members {
			if m.Status != 1 { // serf: alive
				t.Errorf("%s status %d", m.Name, m.Status)
			}
			names = append(names, m.Name)
		}
		slices.Sort(names)
		var want []string
		for _, c := range f.DCs {
			for _, s := range c.Servers() {
				want = append(want, s.Name+"."+c.Servers()[0].Agent.Config().Datacenter)
			}
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("WAN members %v, want %v", names, want)
		}
		clientMembers, err := c1.Agent().Members(true)
		if err != nil || len(clientMembers) != 0 {
			t.Fatalf("a client agent lists WAN members %v, %v; want none", clientMembers, err)
		}
	})

	t.Run("BadDatacenters", func(t *testing.T) {
		addr := f.DC("dc1").Clients()[0].HTTPAddr
		for _, tc := range []struct {
			query string
			code  int
			body  string
		}{
			{"dc=dc9", 500, "No path to datacenter"},
			{"dc=not%20a%20dc", 400, "Invalid datacenter name"},
		} {
			resp, err := http.Get("http://" + addr + "/v1/kv/fed/where?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
				t.Errorf("?%s: %d %q, want %d with %q", tc.query, resp.StatusCode, body, tc.code, tc.body)
			}
		}
		// A client agent cannot join the WAN pool.
		if err := c1.Agent().Join(f.DC("dc2").Servers()[0].WANAddr, true); err == nil {
			t.Error("a client agent joined the WAN pool")
		}
		// A server asked to WAN-join a client agent's gossip address is
		// refused (the client is no server of the WAN pool), and the WAN
		// pool is unchanged.
		server := client(t, f.DC("dc1").Servers()[0])
		before, err := server.Agent().Members(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := server.Agent().Join(f.DC("dc2").Clients()[0].LANAddr, true); err == nil {
			t.Error("a server WAN-joined a client agent's LAN address")
		}
		after, err := server.Agent().Members(true)
		if err != nil || len(after) != len(before) {
			t.Errorf("WAN members %d before, %d after a refused join (%v)", len(before), len(after), err)
		}
		for _, m := range after {
			if !strings.Contains(m.Name, ".dc") {
				t.Errorf("WAN pool holds %q after joining a client", m.Name)
			}
		}
	})
}

package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestRelayedRoute cuts dc1 from dc3 both ways (RPC dials and WAN gossip,
// TCP and UDP): a client agent of dc1 still reads and writes dc3, relayed
// through dc2, and the response names the relay; once the link heals the
// direct path is used again. dc1 has read dc3 before the cut, so its
// server holds an open session to dc3's: the cut stalls it until the RPC
// pool's pings go unanswered (1.5 s), as on a real WAN link that dies.
func TestRelayedRoute(t *testing.T) {
	nw := faultnet.New()
	f := testcluster.NewFederation(t, 3, testcluster.Options{Servers: 1, Clients: 1, Network: nw})
	dc1, dc3 := f.DC("dc1"), f.DC("dc3")
	c3 := client(t, dc3.Clients()[0])
	if _, err := c3.KV().Put(&api.KVPair{Key: "relay/where", Value: []byte("dc3")}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _, err := client(t, dc1.Clients()[0]).KV().Get("relay/where", &api.QueryOptions{Datacenter: "dc3"}); err != nil || got == nil {
		t.Fatalf("direct read of dc3 before the cut: %v, %v", got, err)
	}
	nw.CutBoth(dc1.Servers()[0].Name, dc3.Servers()[0].Name)

	addr := dc1.Clients()[0].HTTPAddr
	read := func() (relay string, err error) {
		resp, err := http.Get("http://" + addr + "/v1/kv/relay/where?dc=dc3&raw")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "dc3" {
			return "", fmt.Errorf("%d %q", resp.StatusCode, body)
		}
		return resp.Header.Get("X-Meridian-Relay"), nil
	}
	start := time.Now()
	relay, err := read()
	if err != nil || relay != "dc2" {
		t.Fatalf("read of dc3 from dc1 across the cut: relay %q, %v; want through dc2", relay, err)
	}
	t.Logf("first relayed read took %s", time.Since(start))

	// A write goes the same way (the direct dials surely sent nothing).
	c1 := client(t, dc1.Clients()[0])
	if _, err := c1.KV().Put(&api.KVPair{Key: "relay/written", Value: []byte("from dc1")}, &api.WriteOptions{Datacenter: "dc3"}); err != nil {
		t.Fatalf("relayed write: %v", err)
	}
	got, _, err := c3.KV().Get("relay/written", nil)
	if err != nil || got == nil || string(got.Value) != "from dc1" {
		t.Fatalf("dc3 reads the relayed write as %v, %v", got, err)
	}
	// The official client sees the relayed answer like any other.
	entries, _, err := c1.Health().Service("consul", "", false, &api.QueryOptions{Datacenter: "dc3"})
	if err != nil || len(entries) != 1 || entries[0].Node.Datacenter != "dc3" {
		t.Fatalf("dc3's servers read from dc1: %+v, %v", entries, err)
	}

	// ?dc=* reaches dc3 the same way and says so per datacenter.
	resp, err := http.Get("http://" + addr + "/v1/catalog/nodes?dc=*")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, unreachable := resp.Header.Get("X-Meridian-Relay"), resp.Header.Get("X-Meridian-Unreachable-Datacenters"); resp.StatusCode != 200 || got != "dc3=dc2" || unreachable != "" {
		t.Fatalf("?dc=* across the cut: %d, relays %q, unreachable %q; want dc3=dc2 and none", resp.StatusCode, got, unreachable)
	}

	nw.HealAll()
	testcluster.WaitFor(t, 60*time.Second, func() error {
		relay, err := read()
		if err != nil {
			return err
		}
		if relay != "" {
			return fmt.Errorf("still relayed through %s", relay)
		}
		return nil
	})
}

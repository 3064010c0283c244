package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestFollowerReads: followers answer default and consistent reads
// themselves after a read index from the leader. Every read sees every
// write acknowledged before it, whichever servers took them; a follower cut
// off from the leader refuses such reads instead of answering from its
// stale store, and answers again once healed.
func TestFollowerReads(t *testing.T) {
	nw := faultnet.New()
	c := testcluster.New(t, testcluster.Options{Servers: 3, Network: nw,
		Tune: func(cfg *dc.Config) { cfg.RPCHoldTimeout = 2 * time.Second }})
	leader := c.WaitForLeader(10 * time.Second)
	servers := c.Servers()
	clients := make([]*api.Client, len(servers))
	for i, n := range servers {
		clients[i] = client(t, n)
	}

	for i := range 60 {
		key, value := fmt.Sprintf("fr/%d", i%5), fmt.Sprintf("v%d", i)
		if _, err := clients[i%3].KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
		for j, opts := range []*api.QueryOptions{{}, {RequireConsistent: true}} {
			srv := (i + 1 + j) % 3
			pair, meta, err := clients[srv].KV().Get(key, opts)
			if err != nil {
				t.Fatalf("read %d through %s: %v", i, servers[srv].Name, err)
			}
			if pair == nil || string(pair.Value) != value {
				t.Fatalf("read %d through %s (%+v) missed the acknowledged write %q: %+v", i, servers[srv].Name, opts, value, pair)
			}
			if !meta.KnownLeader {
				t.Fatalf("read %d through %s: no known leader in %+v", i, servers[srv].Name, meta)
			}
		}
	}

	var cut *testcluster.Node
	var cutClient *api.Client
	for i, n := range servers {
		if n != leader {
			cut, cutClient = n, clients[i]
			break
		}
	}
	nw.Isolate(cut.Name)
	var lc *api.Client
	for i, n := range servers {
		if n == leader {
			lc = clients[i]
		}
	}
	if _, err := lc.KV().Put(&api.KVPair{Key: "fr/cut", Value: []byte("after")}, nil); err != nil {
		t.Fatalf("the majority must still take writes: %v", err)
	}
	for _, opts := range []*api.QueryOptions{{}, {RequireConsistent: true}} {
		pair, _, err := cutClient.KV().Get("fr/cut", opts)
		if err == nil {
			t.Fatalf("isolated follower answered a linearizable read (%+v) from its own store: %+v", opts, pair)
		}
	}
	if _, _, err := cutClient.KV().Get("fr/0", &api.QueryOptions{AllowStale: true}); err != nil {
		t.Fatalf("a stale read of an isolated follower is its own store's: %v", err)
	}

	nw.HealAll()
	testcluster.WaitFor(t, 30*time.Second, func() error {
		pair, _, err := cutClient.KV().Get("fr/cut", nil)
		if err != nil {
			return err
		}
		if pair == nil || string(pair.Value) != "after" {
			return fmt.Errorf("healed follower read %+v", pair)
		}
		return nil
	})
}

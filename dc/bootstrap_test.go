package dc

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// Servers bootstrap only when the expected number of servers of their
// datacenter agree: not while a server in bootstrap mode or one expecting
// another count is in the pool; as soon as the pool is right.
func TestBootstrapExpectWaitsForAgreement(t *testing.T) {
	for name, rogue := range map[string]Member{
		"bootstrap mode": {Name: "rogue", ID: "rogue", Datacenter: "dc1", Addr: "10.0.0.99:8300", Server: true, Bootstrap: true, Status: StatusAlive},
		"other expect":   {Name: "rogue", ID: "rogue", Datacenter: "dc1", Addr: "10.0.0.99:8300", Server: true, Expect: 5, Status: StatusAlive},
	} {
		t.Run(name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				c := startCluster(t, clusterOpts{servers: 3, members: []Member{
					rogue,
					// Ignored: another datacenter, a client, a failed server.
					{Name: "far", ID: "far", Datacenter: "dc2", Addr: "10.1.0.1:8300", Server: true, Expect: 3, Status: StatusAlive},
					{Name: "client", Datacenter: "dc1", Status: StatusAlive},
				}})
				time.Sleep(30 * time.Second)
				for _, ts := range c.servers {
					if addr := ts.LeaderAddr(); addr != "" || ts.raft.LastIndex() != 0 {
						t.Fatalf("%s bootstrapped beside %s (leader %q)", ts.name, name, addr)
					}
				}
				c.members.remove("rogue")
				leader := c.waitLeader()
				var peers pb.StatusPeersResponse
				if err := call(leader, MethodStatusPeers, &pb.StatusRequest{}, &peers); err != nil || len(peers.Addresses) != 3 {
					t.Fatalf("peers %v, %v", peers.Addresses, err)
				}
			})
		})
	}
}

// A server that starts without Raft state into a pool whose servers
// already have some does not bootstrap a second cluster: the leader adds
// it.
func TestLateServerJoinsTheExistingCluster(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		if err := call(leader, MethodKVApply, kvSet("k", "v"), &pb.KVApplyResponse{}); err != nil {
			t.Fatal(err)
		}
		// A fourth server, expecting 3 like the others.
		late := &testServer{name: "s4", id: "id-4", addr: "10.0.0.4:8300"}
		_, late.trans = raft.NewInmemTransport(raft.ServerAddress(late.addr))
		c.servers = append(c.servers, late)
		c.heal() // wires late's InmemTransport to the others
		cfg := LANProfile()
		cfg.NodeName, cfg.NodeID, cfg.RPCAddr, cfg.Logger, cfg.BootstrapExpect = late.name, late.id, late.addr, testLogger(), 3
		c.start(late, cfg)
		c.members.set(Member{Name: late.name, ID: late.id, Datacenter: "dc1", Address: "10.0.0.4", Addr: late.addr, Server: true, Expect: 3, Status: StatusAlive})
		waitFor(t, "s4 is a voter with the data", func() error {
			if n := leader.numVoters(); n != 4 {
				return fmt.Errorf("%d voters", n)
			}
			if got := kvValue(t, late, "k", pb.Consistency_CONSISTENCY_STALE); got != "v" {
				return fmt.Errorf("s4 reads %q", got)
			}
			return nil
		})
		if got := c.waitLeader(); got == late {
			t.Fatal("the late server leads a cluster of its own")
		}
	})
}

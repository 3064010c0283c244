package dc

import (
	"fmt"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// Clusters of 1, 3 and 5 servers bootstrap (itself, or bootstrap-expect
// through the LAN pool), elect a leader with production timeouts, and a
// majority elects a new one when the leader is cut off; the old leader
// follows again once healed.
func TestElection(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d servers", n), func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				start := time.Now()
				c := newTestCluster(t, n, nil)
				leader := c.waitLeader()
				t.Logf("leader %s after %s of fake time", leader.name, time.Since(start))
				var peers pb.StatusPeersResponse
				if err := call(leader, MethodStatusPeers, &pb.StatusRequest{}, &peers); err != nil || len(peers.Addresses) != n {
					t.Fatalf("peers = %v, %v; want %d voters", peers.Addresses, err, n)
				}
				if err := call(leader, MethodKVApply, kvSet("k", "v1"), &pb.KVApplyResponse{}); err != nil {
					t.Fatal(err)
				}
				if n == 1 {
					return
				}
				c.isolate(leader)
				next := c.waitLeader(c.followers(leader)...)
				if next == leader {
					t.Fatal("the isolated server still leads")
				}
				waitFor(t, "the isolated leader steps down", func() error {
					if leader.IsLeader() {
						return fmt.Errorf("%s still leads", leader.name)
					}
					return nil
				})
				if err := call(next, MethodKVApply, kvSet("k", "v2"), &pb.KVApplyResponse{}); err != nil {
					t.Fatal(err)
				}
				c.heal()
				c.waitLeader()
				waitFor(t, "the old leader catches up", func() error {
					if got := kvValue(t, leader, "k", pb.Consistency_CONSISTENCY_STALE); got != "v2" {
						return fmt.Errorf("old leader reads %q", got)
					}
					return nil
				})
			})
		})
	}
}

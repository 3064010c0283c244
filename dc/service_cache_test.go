package dc

import (
	"fmt"
	"testing"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// Reads of a large, unchanged service share one answer; any change to
// what the read depends on (here a check) gives a fresh one, and reads of
// another shape (tags, passing) never get it.
func TestServiceReadsShareAnAnswer(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 1, nil)
		s := c.waitLeader()
		register := func(i int, status string) {
			t.Helper()
			req := &pb.RegisterRequest{
				Node:    &pb.Node{Node: fmt.Sprintf("n%d", i%5), Address: "10.0.0.1"},
				Service: &pb.Service{Id: fmt.Sprintf("big-%d", i), Service: "big", Tags: []string{fmt.Sprintf("t%d", i%2)}},
				Checks:  []*pb.HealthCheck{{CheckId: fmt.Sprintf("c%d", i), Name: "alive", ServiceId: fmt.Sprintf("big-%d", i), Status: status}},
			}
			if err := call(s, MethodCatalogRegister, req, &pb.WriteResponse{}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 * serviceCacheMin {
			register(i, "passing")
		}
		read := func(passing bool, tags ...string) *pb.ServiceNodesResponse {
			t.Helper()
			var resp pb.ServiceNodesResponse
			req := &pb.ServiceNodesRequest{Service: "big", WithChecks: true, PassingOnly: passing, Tags: tags, Q: &pb.CatalogQuery{Query: &pb.QueryOptions{}}}
			if err := call(s, MethodCatalogServiceNodes, req, &resp); err != nil {
				t.Fatal(err)
			}
			return &resp
		}
		a, b := read(true), read(true)
		if len(a.Instances) != 2*serviceCacheMin || &a.Instances[0] != &b.Instances[0] || a.Meta.Index != b.Meta.Index {
			t.Fatalf("two reads of an unchanged service: %d instances, shared %v, indexes %d %d",
				len(a.Instances), &a.Instances[0] == &b.Instances[0], a.Meta.Index, b.Meta.Index)
		}
		if all := read(false); &all.Instances[0] == &a.Instances[0] {
			t.Fatal("a read without ?passing got the ?passing answer")
		}
		if tagged := read(true, "t0"); len(tagged.Instances) != serviceCacheMin {
			t.Fatalf("tag t0: %d instances, want %d", len(tagged.Instances), serviceCacheMin)
		}

		register(3, "critical")
		after := read(true)
		if len(after.Instances) != 2*serviceCacheMin-1 || after.Meta.Index <= a.Meta.Index {
			t.Fatalf("after a check failed: %d instances at index %d (before: index %d)", len(after.Instances), after.Meta.Index, a.Meta.Index)
		}
		for _, inst := range after.Instances {
			if inst.Service.Id == "big-3" {
				t.Fatal("the failing instance is still in the ?passing answer")
			}
		}
		if again := read(true); &again.Instances[0] != &after.Instances[0] {
			t.Fatal("the new answer is not shared")
		}
	})
}

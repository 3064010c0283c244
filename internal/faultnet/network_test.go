package faultnet

import (
	"slices"
	"testing"
)

func TestLinkControl(t *testing.T) {
	all := []string{"n1", "n2", "n3", "n4"}
	cases := []struct {
		name string
		do   func(nw *Network)
		cut  [][2]string // every other directed link must pass
	}{
		{"nothing", func(*Network) {}, nil},
		{"cut one way", func(nw *Network) { nw.Cut("n1", "n2") }, [][2]string{{"n1", "n2"}}},
		{"cut both", func(nw *Network) { nw.CutBoth("n1", "n2") }, [][2]string{{"n1", "n2"}, {"n2", "n1"}}},
		{"isolate", func(nw *Network) { nw.Isolate("n3") }, [][2]string{
			{"n3", "n1"}, {"n3", "n2"}, {"n3", "n4"}, {"n1", "n3"}, {"n2", "n3"}, {"n4", "n3"}}},
		{"partition", func(nw *Network) { nw.Partition([]string{"n1", "n2"}, []string{"n3"}) }, [][2]string{
			{"n1", "n3"}, {"n3", "n1"}, {"n2", "n3"}, {"n3", "n2"}}},
		{"cut groups one way", func(nw *Network) { nw.CutGroups([]string{"n1", "n2"}, []string{"n3", "n4"}) }, [][2]string{
			{"n1", "n3"}, {"n1", "n4"}, {"n2", "n3"}, {"n2", "n4"}}},
		{"heal partition keeps other cuts", func(nw *Network) {
			nw.Cut("n1", "n2")
			nw.Partition([]string{"n1", "n2"}, []string{"n3", "n4"})
			nw.HealPartition([]string{"n3", "n4"}, []string{"n1", "n2"})
		}, [][2]string{{"n1", "n2"}}},
		{"heal partition of a one-way cut", func(nw *Network) {
			nw.CutGroups([]string{"n3"}, []string{"n1", "n2"})
			nw.HealPartition([]string{"n1", "n2"}, []string{"n3"})
		}, nil},
		{"heal one way of two", func(nw *Network) { nw.CutBoth("n1", "n2"); nw.Heal("n2", "n1") }, [][2]string{{"n1", "n2"}}},
		{"heal all", func(nw *Network) { nw.Isolate("n1"); nw.Cut("n2", "n3"); nw.HealAll() }, nil},
		{"self is never cut", func(nw *Network) { nw.Cut("n1", "n1"); nw.Partition([]string{"n1"}, []string{"n1"}) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := New()
			for _, n := range all {
				nw.AddNode(n)
			}
			tc.do(nw)
			for _, from := range all {
				for _, to := range all {
					want := !slices.Contains(tc.cut, [2]string{from, to})
					if got := nw.Linked(from, to); got != want {
						t.Errorf("Linked(%s, %s) = %v, want %v", from, to, got, want)
					}
				}
			}
		})
	}
}

func TestAddressOwnership(t *testing.T) {
	nw := New()
	a := nw.AddNode("a", "127.0.0.1:8300", "127.0.0.1:8301")
	if nw.AddNode("a") != a || nw.Node("a") != a || a.Name() != "a" {
		t.Fatal("AddNode of a known name must return the same node")
	}
	if nw.Node("nobody") != nil {
		t.Fatal("Node of an unknown name must be nil")
	}
	nw.AddNode("b", "127.0.0.1:8301") // a reused port moves to its new owner
	cases := []struct {
		addr, owner string
		ok          bool
	}{
		{"127.0.0.1:8300", "a", true},
		{"[::ffff:127.0.0.1]:8300", "a", true},
		{"127.0.0.1:8301", "b", true},
		{"127.0.0.1:9999", "", false},
	}
	for _, tc := range cases {
		owner, ok := nw.owner(tc.addr)
		if owner != tc.owner || ok != tc.ok {
			t.Errorf("owner(%s) = %q, %v; want %q, %v", tc.addr, owner, ok, tc.owner, tc.ok)
		}
	}
	if got := nw.Nodes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Nodes() = %v", got)
	}
}

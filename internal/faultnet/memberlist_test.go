package faultnet

import (
	"fmt"
	"io"
	"log"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

const gossipTimeout = 20 * time.Second

// startMemberlists starts one memberlist per name over wrapped transports,
// all joined to the first, with fast failure detection.
func startMemberlists(t *testing.T, nw *Network, names ...string) map[string]*memberlist.Memberlist {
	t.Helper()
	// Runs last: memberlist's probe goroutine outlives Shutdown by up to a
	// probe interval; wait for it so that goleak judges only our own.
	t.Cleanup(func() {
		eventually(t, testTimeout, func() bool {
			return !strings.Contains(allStacks(), "github.com/hashicorp/memberlist.")
		}, func() string { return "memberlist goroutines still running:\n" + allStacks() })
	})
	out := make(map[string]*memberlist.Memberlist, len(names))
	var first string
	for _, name := range names {
		tr := netTransport(t, nw.AddNode(name))
		cfg := memberlist.DefaultLocalConfig()
		cfg.Name = name
		cfg.BindAddr = "127.0.0.1"
		cfg.Transport = tr
		cfg.Logger = log.New(io.Discard, "", 0)
		cfg.ProbeInterval = 200 * time.Millisecond
		cfg.ProbeTimeout = 100 * time.Millisecond
		cfg.SuspicionMult = 2
		cfg.SuspicionMaxTimeoutMult = 2
		cfg.GossipInterval = 50 * time.Millisecond
		cfg.PushPullInterval = time.Second
		cfg.TCPTimeout = 500 * time.Millisecond
		m, err := memberlist.Create(cfg)
		if err != nil {
			t.Fatalf("memberlist %s: %v", name, err)
		}
		t.Cleanup(func() { _ = m.Shutdown() })
		out[name] = m
		if first == "" {
			first = tr.Addr()
		} else if _, err := m.Join([]string{first}); err != nil {
			t.Fatalf("join %s: %v", name, err)
		}
	}
	return out
}

// aliveCount returns how many members m sees alive (itself included).
func aliveCount(m *memberlist.Memberlist) int {
	n := 0
	for _, node := range m.Members() {
		if node.State == memberlist.StateAlive {
			n++
		}
	}
	return n
}

// views describes every member's view, for failure messages.
func views(ms map[string]*memberlist.Memberlist) string {
	s := ""
	for name, m := range ms {
		s += fmt.Sprintf(" %s:", name)
		for _, node := range m.Members() {
			s += fmt.Sprintf(" %s=%v", node.Name, node.State)
		}
	}
	return s
}

func TestMemberlistFailureAndRecovery(t *testing.T) {
	cases := []struct {
		name        string
		cut         func(nw *Network)
		n3SeesAlone bool // whether n3 itself must end up seeing nobody
	}{
		{"isolate n3", func(nw *Network) { nw.Isolate("n3") }, true},
		{"n3's outbound cut", func(nw *Network) {
			nw.Cut("n3", "n1")
			nw.Cut("n3", "n2")
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := New()
			ms := startMemberlists(t, nw, "n1", "n2", "n3")
			waitUntil(t, gossipTimeout, "cluster never formed", func() bool {
				return aliveCount(ms["n1"]) == 3 && aliveCount(ms["n2"]) == 3 && aliveCount(ms["n3"]) == 3
			})

			tc.cut(nw)
			waitUntil(t, gossipTimeout, "n1 and n2 never declared n3 dead", func() bool {
				return ms["n1"].NumMembers() == 2 && ms["n2"].NumMembers() == 2
			})
			if tc.n3SeesAlone {
				waitUntil(t, gossipTimeout, "isolated n3 still sees others", func() bool {
					return ms["n3"].NumMembers() == 1
				})
			}
			if s := nw.Stats(); s.PacketsDroppedOut == 0 {
				t.Errorf("stats %+v: want dropped packets", s)
			}

			nw.HealAll()
			// Memberlist does not probe dead members; serf's reconnect
			// loop rejoins them, which a Join stands for here.
			if _, err := ms["n3"].Join([]string{selfAddr(ms["n1"]), selfAddr(ms["n2"])}); err != nil {
				t.Fatalf("rejoin: %v", err)
			}
			eventually(t, gossipTimeout, func() bool {
				return aliveCount(ms["n1"]) == 3 && aliveCount(ms["n2"]) == 3 && aliveCount(ms["n3"]) == 3
			}, func() string { return "cluster never recovered:" + views(ms) })
		})
	}
}

// allStacks returns the stacks of every goroutine.
func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// selfAddr returns m's own gossip address.
func selfAddr(m *memberlist.Memberlist) string {
	return m.LocalNode().Address()
}

// TestMemberlistGroupPartition cuts the gossip between two groups (as the
// WAN link between two datacenters' servers): each side declares the
// other dead and keeps its own, one way or both, and after the heal one
// rejoin brings the pool back whole.
func TestMemberlistGroupPartition(t *testing.T) {
	dc1, dc2 := []string{"a1", "a2"}, []string{"b1", "b2"}
	cases := []struct {
		name string
		cut  func(nw *Network)
	}{
		{"both ways", func(nw *Network) { nw.Partition(dc1, dc2) }},
		{"one way", func(nw *Network) { nw.CutGroups(dc2, dc1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := New()
			ms := startMemberlists(t, nw, "a1", "a2", "b1", "b2")
			everyone := func(n int) func() bool {
				return func() bool {
					for _, m := range ms {
						if aliveCount(m) != n {
							return false
						}
					}
					return true
				}
			}
			waitUntil(t, gossipTimeout, "pool never formed", everyone(4))

			tc.cut(nw)
			eventually(t, gossipTimeout, func() bool {
				return aliveCount(ms["a1"]) == 2 && aliveCount(ms["a2"]) == 2 &&
					ms["a1"].NumMembers() == 2 && ms["a2"].NumMembers() == 2
			}, func() string { return "a1 and a2 never declared b1 and b2 dead:" + views(ms) })
			for _, name := range dc1 {
				for _, node := range ms[name].Members() {
					if node.Name == "a1" || node.Name == "a2" {
						if node.State != memberlist.StateAlive {
							t.Errorf("%s sees its own group's %s as %v", name, node.Name, node.State)
						}
					}
				}
			}
			if s := nw.Stats(); s.PacketsDroppedOut+s.PacketsDroppedIn == 0 {
				t.Errorf("stats %+v: want dropped packets", s)
			}

			nw.HealPartition(dc1, dc2)
			if _, err := ms["b1"].Join([]string{selfAddr(ms["a1"])}); err != nil {
				t.Fatalf("rejoin: %v", err)
			}
			eventually(t, gossipTimeout, everyone(4), func() string { return "pool never recovered:" + views(ms) })
		})
	}
}

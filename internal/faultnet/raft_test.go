package faultnet

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// raftLayer is a raft.StreamLayer whose dials go through a Node.
type raftLayer struct {
	net.Listener
	node *Node
}

func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.node.Dial(ctx, string(addr))
}

// countFSM counts the entries applied.
type countFSM struct {
	mu sync.Mutex
	n  int
}

func (f *countFSM) Apply(*raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.n
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("not supported") }
func (f *countFSM) Restore(io.ReadCloser) error         { return fmt.Errorf("not supported") }

type raftNode struct {
	name  string
	raft  *raft.Raft
	trans *raft.NetworkTransport
}

// startRafts starts one Raft server per name over Node.Dial, bootstrapped
// together, with fast timeouts; they are shut down when the test ends.
func startRafts(t *testing.T, nw *Network, names ...string) []*raftNode {
	t.Helper()
	t.Cleanup(func() { // runs last
		eventually(t, testTimeout, func() bool {
			return !strings.Contains(allStacks(), "github.com/hashicorp/raft.")
		}, func() string { return "raft goroutines still running:\n" + allStacks() })
	})
	var nodes []*raftNode
	var servers []raft.Server
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		layer := &raftLayer{Listener: ln, node: nw.AddNode(name, ln.Addr().String())}
		trans := raft.NewNetworkTransport(layer, 3, 500*time.Millisecond, io.Discard)
		nodes = append(nodes, &raftNode{name: name, trans: trans})
		servers = append(servers, raft.Server{ID: raft.ServerID(name), Address: trans.LocalAddr()})
	}
	for _, n := range nodes {
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(n.name)
		conf.HeartbeatTimeout = 300 * time.Millisecond
		conf.ElectionTimeout = 300 * time.Millisecond
		conf.LeaderLeaseTimeout = 150 * time.Millisecond
		conf.CommitTimeout = 10 * time.Millisecond
		conf.LogOutput = io.Discard
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		boot := raft.Configuration{Servers: servers}
		if err := raft.BootstrapCluster(conf, store, store, snaps, n.trans, boot); err != nil {
			t.Fatalf("bootstrap %s: %v", n.name, err)
		}
		r, err := raft.NewRaft(conf, &countFSM{}, store, store, snaps, n.trans)
		if err != nil {
			t.Fatalf("raft %s: %v", n.name, err)
		}
		n.raft = r
	}
	t.Cleanup(func() {
		nw.HealAll()
		for _, n := range nodes {
			if err := n.raft.Shutdown().Error(); err != nil {
				t.Errorf("shutdown %s: %v", n.name, err)
			}
		}
		for _, n := range nodes {
			n.trans.CloseStreams()
			_ = n.trans.Close()
		}
	})
	return nodes
}

// leaders returns the nodes that believe they lead.
func leaders(nodes []*raftNode) []*raftNode {
	var out []*raftNode
	for _, n := range nodes {
		if n.raft.State() == raft.Leader {
			out = append(out, n)
		}
	}
	return out
}

func describeRafts(nodes []*raftNode) string {
	var b strings.Builder
	for _, n := range nodes {
		addr, id := n.raft.LeaderWithID()
		fmt.Fprintf(&b, " %s=%v(leader %s %s, applied %d)", n.name, n.raft.State(), id, addr, n.raft.AppliedIndex())
	}
	return b.String()
}

func TestRaftLeaderIsolation(t *testing.T) {
	nw := New()
	nodes := startRafts(t, nw, "r1", "r2", "r3")
	eventually(t, testTimeout, func() bool { return len(leaders(nodes)) == 1 },
		func() string { return "no single leader:" + describeRafts(nodes) })
	old := leaders(nodes)[0]
	if err := old.raft.Apply([]byte("before"), testTimeout).Error(); err != nil {
		t.Fatalf("apply on the first leader: %v", err)
	}

	nw.Isolate(old.name)
	var next *raftNode
	eventually(t, 2*testTimeout, func() bool {
		for _, n := range leaders(nodes) {
			if n != old {
				next = n
				return true
			}
		}
		return false
	}, func() string { return "no new leader among the others:" + describeRafts(nodes) })
	f := next.raft.Apply([]byte("during"), testTimeout)
	if err := f.Error(); err != nil {
		t.Fatalf("apply on the new leader with a quorum of two: %v", err)
	}
	eventually(t, testTimeout, func() bool { return old.raft.State() != raft.Leader },
		func() string { return "isolated leader never stepped down:" + describeRafts(nodes) })
	if s := nw.Node(old.name).Stats(); s.WritesStalled+s.DialsRefused == 0 {
		t.Errorf("isolated leader's stats %+v: want stalled writes or refused dials", s)
	}

	nw.HealAll()
	eventually(t, 2*testTimeout, func() bool {
		ls := leaders(nodes)
		if len(ls) != 1 {
			return false
		}
		want := ls[0].trans.LocalAddr()
		for _, n := range nodes {
			if addr, _ := n.raft.LeaderWithID(); addr != want || n.raft.AppliedIndex() < f.Index() {
				return false
			}
		}
		return true
	}, func() string { return "no single agreed leader after heal:" + describeRafts(nodes) })
}

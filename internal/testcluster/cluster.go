package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/logging"
)

// Options shape a cluster.
type Options struct {
	// Servers is the number of servers (default 3); Clients of client agents.
	Servers int
	Clients int
	// Datacenter defaults to dc1.
	Datacenter string
	// Args are added to every agent's flags.
	Args []string
	// NodeArgs, if set, adds flags to the i-th agent of datacenter dc
	// (servers first), after Args.
	NodeArgs func(dc string, i int, server bool) []string
	// Tune adjusts every server's datacenter configuration.
	Tune func(*dc.Config)
	// TuneHealth adjusts every agent's health subsystem.
	TuneHealth func(*health.Config)
	// Network, if set, carries every agent's Raft, RPC and gossip traffic
	// so tests can cut links (each node is registered under its name).
	Network *faultnet.Network
	// RetryJoinWAN are WAN addresses every server retry-joins (another
	// datacenter's servers; see NewFederation).
	RetryJoinWAN []string
	// CoordinateSync, if set, is how often every agent sends its LAN
	// coordinate (instead of every 15 s or more).
	CoordinateSync time.Duration
}

// Node is one agent of the cluster.
type Node struct {
	Name string
	// DiskDelay, read on every Raft log write of a server, slows its disk
	// (nanoseconds; 0 for none).
	DiskDelay atomic.Int64

	Server  bool
	DataDir string
	Args    []string
	Agent   *agent.Agent
	// HTTPAddr, RPCAddr, LANAddr and WANAddr (servers only) stay the same
	// across restarts.
	HTTPAddr string
	RPCAddr  string
	LANAddr  string
	WANAddr  string
}

// Cluster is a running datacenter.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
	log   *slog.Logger
	tune  func(*dc.Config)
	opts  Options
}

// New starts a cluster, waits until it has a leader that every server
// knows and every agent sees every other, and stops it when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.Datacenter == "" {
		opts.Datacenter = "dc1"
	}
	c := &Cluster{t: t, log: testLogger(), tune: opts.Tune, opts: opts}
	t.Cleanup(c.Shutdown)
	var firstLAN string
	for i := 0; i < opts.Servers+opts.Clients; i++ {
		server := i < opts.Servers
		ports := FreePorts(t, 5)
		n := &Node{
			Server:   server,
			DataDir:  t.TempDir(),
			HTTPAddr: "127.0.0.1:" + strconv.Itoa(ports[0]),
			RPCAddr:  "127.0.0.1:" + strconv.Itoa(ports[1]),
			LANAddr:  "127.0.0.1:" + strconv.Itoa(ports[2]),
		}
		if server {
			n.WANAddr = "127.0.0.1:" + strconv.Itoa(ports[3])
		}
		if server {
			n.Name = fmt.Sprintf("%s-server-%d", opts.Datacenter, i+1)
		} else {
			n.Name = fmt.Sprintf("%s-client-%d", opts.Datacenter, i-opts.Servers+1)
		}
		local := agent.LocalNode{
			Name: n.Name, Datacenter: opts.Datacenter, Server: server, BootstrapExpect: opts.Servers,
			DataDir: n.DataDir, HTTPPort: ports[0], ServerPort: ports[1], SerfLANPort: ports[2], SerfWANPort: ports[3],
			DNSPort: ports[4], RetryInterval: 100 * time.Millisecond,
		}
		if firstLAN == "" {
			firstLAN = n.LANAddr
		} else {
			local.RetryJoin = []string{firstLAN}
		}
		if server {
			local.RetryJoinWAN = opts.RetryJoinWAN
		}
		n.Args = append(local.Args(), "-log-level", "debug")
		n.Args = append(n.Args, opts.Args...)
		if opts.NodeArgs != nil {
			n.Args = append(n.Args, opts.NodeArgs(opts.Datacenter, i, server)...)
		}
		c.Nodes = append(c.Nodes, n)
		c.Start(n)
	}
	leader := c.WaitForLeader(30 * time.Second)
	WaitFor(t, 30*time.Second, func() error {
		for _, n := range c.Nodes {
			if got := n.Agent.NumLANMembers(); got != len(c.Nodes) {
				return fmt.Errorf("%s sees %d members, want %d", n.Name, got, len(c.Nodes))
			}
		}
		// The leader has made every member a catalog node.
		_, nodes, err := leader.Agent.Server().Store().Nodes(nil)
		if err != nil {
			return err
		}
		if len(nodes) < len(c.Nodes) {
			return fmt.Errorf("%d of %d members in the catalog", len(nodes), len(c.Nodes))
		}
		return nil
	})
	return c
}

// Start starts (or restarts, on its data dir and ports) a node's agent.
func (c *Cluster) Start(n *Node) {
	c.t.Helper()
	cfg, _, err := config.Load(n.Args)
	if err != nil {
		c.t.Fatalf("config for %s: %v", n.Name, err)
	}
	var opts []agent.Option
	if c.tune != nil {
		opts = append(opts, agent.WithServerTuning(c.tune))
	}
	if c.opts.TuneHealth != nil {
		opts = append(opts, agent.WithHealthTuning(c.opts.TuneHealth))
	}
	if c.opts.CoordinateSync > 0 {
		opts = append(opts, agent.WithCoordinateSync(c.opts.CoordinateSync))
	}
	if nw := c.opts.Network; nw != nil {
		addrs := []string{n.RPCAddr, n.LANAddr}
		if n.WANAddr != "" {
			addrs = append(addrs, n.WANAddr) // WAN gossip, UDP and TCP
		}
		fn := nw.AddNode(n.Name, addrs...)
		opts = append(opts,
			agent.WithDialer(fn.Dial),
			agent.WithGossipTransport(func(bind string, port int) (memberlist.NodeAwareTransport, error) {
				return fn.NetTransport(memberlist.NetTransportConfig{BindAddrs: []string{bind}, BindPort: port})
			}))
	}
	opts = append(opts, agent.WithRaftLogStore(func(s dc.LogStore) dc.LogStore {
		return faultnet.SlowLogStore(s, func() time.Duration { return time.Duration(n.DiskDelay.Load()) })
	}))
	a, err := agent.New(cfg, c.log.With("test_node", n.Name), opts...)
	if err != nil {
		c.t.Fatalf("agent %s: %v", n.Name, err)
	}
	// A port freed by a stopped agent may linger briefly; retry a bounded
	// number of times.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err = a.Start(context.Background())
		if err == nil || time.Now().After(deadline) {
			break
		}
		a, _ = agent.New(cfg, c.log.With("test_node", n.Name), opts...)
		time.Sleep(100 * time.Millisecond) // back-off between bind attempts, not synchronisation
	}
	if err != nil {
		c.t.Fatalf("start %s: %v", n.Name, err)
	}
	n.Agent = a
}

// Stop shuts a node down without leaving, like a crash of the process
// (its Raft log is synced; unsynced OS buffers are not modelled).
// A shutdown that has not finished within a minute is a bug: the test
// fails with every goroutine's stack instead of hanging until its timeout.
func (c *Cluster) Stop(n *Node) {
	if n.Agent == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		n.Agent.Shutdown()
		close(done)
	}()
	select {
	case <-done:
		n.Agent = nil
	case <-time.After(time.Minute):
		buf := make([]byte, 8<<20)
		buf = buf[:runtime.Stack(buf, true)]
		c.t.Fatalf("shutdown of %s still running after a minute; goroutines:\n%s", n.Name, buf)
	}
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for _, n := range c.Nodes {
		c.Stop(n)
	}
}

// Servers are the server nodes that are running.
func (c *Cluster) Servers() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Server && n.Agent != nil {
			out = append(out, n)
		}
	}
	return out
}

// Clients are the client nodes that are running.
func (c *Cluster) Clients() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if !n.Server && n.Agent != nil {
			out = append(out, n)
		}
	}
	return out
}

// Leader is the running server that leads, or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.Servers() {
		if n.Agent.Server().IsLeader() {
			return n
		}
	}
	return nil
}

// Followers are the running servers that do not lead.
func (c *Cluster) Followers() []*Node {
	var out []*Node
	for _, n := range c.Servers() {
		if !n.Agent.Server().IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// WaitForLeader waits until one running server leads and every running
// server knows it; it returns the leader.
func (c *Cluster) WaitForLeader(timeout time.Duration) *Node {
	c.t.Helper()
	var leader *Node
	WaitFor(c.t, timeout, func() error {
		leader = c.Leader()
		if leader == nil {
			return errors.New("no leader")
		}
		for _, n := range c.Servers() {
			if got := n.Agent.Server().LeaderAddr(); got != leader.RPCAddr {
				return fmt.Errorf("%s thinks the leader is %q, want %s", n.Name, got, leader.RPCAddr)
			}
		}
		return nil
	})
	return leader
}

// WaitFor polls cond until it returns nil, failing the test with cond's
// last error after timeout.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(interval) // polling interval of a bounded wait
		interval = min(interval*2, 100*time.Millisecond)
	}
}

// FreePorts returns n distinct ports free for both TCP and UDP on
// 127.0.0.1 right now.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := agent.FreeLocalPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

func testLogger() *slog.Logger {
	if os.Getenv("MERIDIAN_TEST_LOG") != "" {
		l, err := logging.New("debug", false, os.Stderr)
		if err == nil {
			return l
		}
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

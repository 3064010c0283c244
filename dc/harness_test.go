package dc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/memnet"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// The servers of these tests run inside testing/synctest bubbles: Raft over
// raft.NewInmemTransport, RPC (forwarding, read index) through rpc's real
// Mux, Server and Pool over memnet, the LAN pool a fakeMembership, and the
// production timeouts (LANProfile) on the bubble's fake clock. A bubble
// fails if a goroutine of it is still blocked when the test returns;
// goleak checks the rest of the package.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeMembership is the LAN pool as a test sets it.
type fakeMembership struct {
	mu      sync.Mutex
	members []Member
	subs    map[int]chan struct{}
	nextSub int
}

func newFakeMembership() *fakeMembership {
	return &fakeMembership{subs: map[int]chan struct{}{}}
}

func (f *fakeMembership) Members() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeMembership) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	id := f.nextSub
	f.nextSub++
	f.subs[id] = ch
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// set adds m, or replaces the member of the same name, and notifies.
func (f *fakeMembership) set(m Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.members, func(x Member) bool { return x.Name == m.Name })
	if i < 0 {
		f.members = append(f.members, m)
	} else {
		f.members[i] = m
	}
	f.notifyLocked()
}

// setStatus changes a member's status and notifies.
func (f *fakeMembership) setStatus(name string, st MemberStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.members {
		if f.members[i].Name == name {
			f.members[i].Status = st
		}
	}
	f.notifyLocked()
}

// remove forgets a member, as serf does when it reaps one.
func (f *fakeMembership) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members = slices.DeleteFunc(f.members, func(x Member) bool { return x.Name == name })
	f.notifyLocked()
}

func (f *fakeMembership) notifyLocked() {
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// testServer is one server of a testCluster with its RPC plumbing.
type testServer struct {
	name, id, addr string
	*Server
	trans     *raft.InmemTransport
	rpcSrv    *rpc.Server
	mux       *rpc.Mux
	pool      *rpc.Pool
	calls     *countingCaller
	serveDone chan struct{}
	stopped   bool
	// conf is the server's configuration, kept for a restart.
	conf Config
}

// countingCaller counts the RPCs a server makes to others, by method.
type countingCaller struct {
	next Caller
	mu   sync.Mutex
	n    map[string]int
	// rewrite, if set, edits every answer (a peer of another version).
	rewrite func(addr, method string, resp proto.Message)
	// redirect, if set, picks the address a call goes to instead.
	redirect func(addr, method string) string
}

func (c *countingCaller) Call(ctx context.Context, addr, method string, req, resp proto.Message) error {
	c.mu.Lock()
	c.n[method]++
	rewrite := c.rewrite
	if c.redirect != nil {
		addr = c.redirect(addr, method)
	}
	c.mu.Unlock()
	err := c.next.Call(ctx, addr, method, req, resp)
	if err == nil && rewrite != nil {
		rewrite(addr, method, resp)
	}
	return err
}

// setRewrite installs rewrite (see countingCaller.rewrite).
func (c *countingCaller) setRewrite(rewrite func(addr, method string, resp proto.Message)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rewrite = rewrite
}

// setRedirect installs redirect (see countingCaller.redirect).
func (c *countingCaller) setRedirect(redirect func(addr, method string) string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.redirect = redirect
}

// count is how many calls of method were made, and resets it.
func (c *countingCaller) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n[method]
	delete(c.n, method)
	return n
}

// testCluster is a datacenter of servers in one bubble.
type testCluster struct {
	t       *testing.T
	net     *memnet.Network
	members *fakeMembership
	servers []*testServer
	// onDisk servers keep Raft under a DataDir and run it over the
	// mux's stream layer (as agents do) instead of an InmemTransport.
	onDisk bool
	// wrapLog, if set, wraps every server's Raft log store.
	wrapLog func(LogStore) LogStore
	// clock, if set, is every server's Deps.Clock.
	clock  clock.Clock
	router Router
	events UserEvents
	wan    WANCoordinates
}

// newTestCluster starts n servers (n == 1 bootstraps itself, more use
// bootstrap-expect through the fake membership) and stops them when the
// test ends. It must run inside a synctest bubble.
func newTestCluster(t *testing.T, n int, tune func(*Config)) *testCluster {
	t.Helper()
	return startCluster(t, clusterOpts{servers: n, tune: tune})
}

// newDiskCluster is newTestCluster with servers on disk and Raft over
// the mux (see testCluster.onDisk).
func newDiskCluster(t *testing.T, n int, tune func(*Config)) *testCluster {
	t.Helper()
	return startCluster(t, clusterOpts{servers: n, onDisk: true, tune: tune})
}

// clusterOpts shape a testCluster.
type clusterOpts struct {
	servers int
	onDisk  bool
	tune    func(*Config)
	wrapLog func(LogStore) LogStore
	clock   clock.Clock
	// members are in the LAN pool, besides the servers, before any starts.
	members []Member
	// datacenter defaults to dc1; its servers are 10.0.<subnet>.<i>.
	datacenter string
	subnet     int
	// net, if set, is shared with another cluster (another datacenter).
	net    *memnet.Network
	router Router
	// events and wan are every server's Deps.Events and Deps.WAN.
	events UserEvents
	wan    WANCoordinates
}

func startCluster(t *testing.T, o clusterOpts) *testCluster {
	t.Helper()
	n, onDisk, tune := o.servers, o.onDisk, o.tune
	if o.datacenter == "" {
		o.datacenter = "dc1"
	}
	if o.net == nil {
		o.net = memnet.New()
	}
	c := &testCluster{t: t, net: o.net, members: newFakeMembership(), onDisk: onDisk, wrapLog: o.wrapLog, clock: o.clock, router: o.router, events: o.events, wan: o.wan}
	t.Cleanup(c.shutdown)
	for _, m := range o.members {
		c.members.set(m)
	}
	for i := 1; i <= n; i++ {
		ts := &testServer{name: fmt.Sprintf("s%d", i), id: fmt.Sprintf("%s-id-%d", o.datacenter, i), addr: fmt.Sprintf("10.0.%d.%d:8300", o.subnet, i)}
		c.servers = append(c.servers, ts)
		c.members.set(Member{
			Name: ts.name, ID: ts.id, Datacenter: o.datacenter, Address: fmt.Sprintf("10.0.%d.%d", o.subnet, i),
			Addr: ts.addr, Server: true, Expect: n, Status: StatusAlive,
		})
	}
	for _, ts := range c.servers {
		_, ts.trans = raft.NewInmemTransport(raft.ServerAddress(ts.addr))
	}
	for _, a := range c.servers {
		for _, b := range c.servers {
			if a != b {
				a.trans.Connect(raft.ServerAddress(b.addr), b.trans)
			}
		}
	}
	for _, ts := range c.servers {
		cfg := LANProfile()
		cfg.NodeName, cfg.NodeID, cfg.RPCAddr, cfg.Datacenter = ts.name, ts.id, ts.addr, o.datacenter
		cfg.Logger = testLogger()
		if n == 1 {
			cfg.Bootstrap = true
		} else {
			cfg.BootstrapExpect = n
		}
		if onDisk {
			cfg.DataDir = t.TempDir()
		}
		if tune != nil {
			tune(&cfg)
		}
		c.start(ts, cfg)
	}
	return c
}

func (c *testCluster) start(ts *testServer, cfg Config) {
	c.t.Helper()
	ln, err := c.net.Listen(ts.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	ts.conf, ts.stopped = cfg, false
	ts.rpcSrv = rpc.NewServer(rpc.ServerConfig{Logger: cfg.Logger})
	ts.mux = rpc.NewMux(ln, cfg.Logger, rpc.WithRaftDial(c.net.Dialer(ts.addr)))
	ts.mux.HandleRPC(ts.rpcSrv.ServeConn)
	ts.pool = rpc.NewPool(rpc.PoolConfig{Dial: c.net.Dialer(ts.addr), Logger: cfg.Logger})
	ts.calls = &countingCaller{next: ts.pool, n: map[string]int{}}
	deps := Deps{Transport: ts.trans, Pool: ts.calls, Membership: c.members}
	if c.onDisk {
		deps = Deps{RaftStream: ts.mux.RaftLayer(), Pool: ts.calls, Membership: c.members}
	}
	deps.WrapLogStore, deps.Clock, deps.Router = c.wrapLog, c.clock, c.router
	deps.Events, deps.WAN = c.events, c.wan
	srv, err := New(cfg, deps)
	if err != nil {
		c.t.Fatal(err)
	}
	ts.Server = srv
	srv.RegisterRPC(ts.rpcSrv)
	// As the agent does: Raft exists before the first connection is
	// served (peers' dials wait for Accept meanwhile).
	if err := srv.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	ts.serveDone = make(chan struct{})
	go func() {
		defer close(ts.serveDone)
		ts.mux.Serve()
	}()
}

// restart starts a stopped on-disk server again on its data dir.
func (c *testCluster) restart(ts *testServer) {
	c.t.Helper()
	if !c.onDisk || !ts.stopped {
		c.t.Fatalf("restart of %s: only stopped servers on disk restart", ts.name)
	}
	c.start(ts, ts.conf)
}

// stop shuts one server down, as a crash would (no leave).
func (c *testCluster) stop(ts *testServer) {
	if ts.stopped {
		return
	}
	ts.stopped = true
	if ts.Server != nil {
		if err := ts.Shutdown(); err != nil {
			c.t.Logf("shutdown %s: %v", ts.name, err)
		}
	}
	if ts.mux == nil {
		return
	}
	ts.rpcSrv.Shutdown()
	ts.pool.Close()
	ts.mux.Close()
	if ts.serveDone != nil {
		<-ts.serveDone
	}
	// The process is gone, and its connections with it: Raft's network
	// transport leaves accepted connections to be closed by their peer.
	c.net.CloseConns(ts.addr)
}

func (c *testCluster) shutdown() {
	for _, ts := range c.servers {
		c.stop(ts)
	}
}

// running are the servers not stopped.
func (c *testCluster) running() []*testServer {
	var out []*testServer
	for _, ts := range c.servers {
		if !ts.stopped {
			out = append(out, ts)
		}
	}
	return out
}

// isolate cuts a server off from every other, for Raft and RPC alike.
func (c *testCluster) isolate(ts *testServer) {
	if !c.onDisk {
		for _, o := range c.servers {
			if o != ts {
				c.cutRaft(ts, o)
			}
		}
	}
	c.net.DisconnectAll(ts.addr)
}

// cutRaft cuts the Raft link between two servers, both ways (InmemTransport
// clusters only: on disk, Raft and RPC share the memnet link).
func (c *testCluster) cutRaft(a, b *testServer) {
	if c.onDisk {
		c.t.Fatal("cutRaft on a cluster whose Raft runs over memnet")
	}
	a.trans.Disconnect(raft.ServerAddress(b.addr))
	b.trans.Disconnect(raft.ServerAddress(a.addr))
}

// heal restores every link.
func (c *testCluster) heal() {
	for _, a := range c.servers {
		if c.onDisk {
			break
		}
		for _, b := range c.servers {
			if a != b {
				a.trans.Connect(raft.ServerAddress(b.addr), b.trans)
			}
		}
	}
	c.net.ConnectAll()
}

// waitLeader waits until one of among (all running servers if none are
// given) leads, has applied its predecessors' entries, and every one of
// among knows it.
func (c *testCluster) waitLeader(among ...*testServer) *testServer {
	c.t.Helper()
	if len(among) == 0 {
		among = c.running()
	}
	var leader *testServer
	waitFor(c.t, "a leader known to every server", func() error {
		leader = nil
		for _, ts := range among {
			if ts.readyToServe(true) {
				leader = ts
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader among %d servers", len(among))
		}
		for _, ts := range among {
			if got := ts.LeaderAddr(); got != leader.addr {
				return fmt.Errorf("%s thinks the leader is %q, want %s", ts.name, got, leader.addr)
			}
		}
		return nil
	})
	return leader
}

// followers are the running servers other than leader.
func (c *testCluster) followers(leader *testServer) []*testServer {
	var out []*testServer
	for _, ts := range c.running() {
		if ts != leader {
			out = append(out, ts)
		}
	}
	return out
}

// waitFor polls cond on the bubble's clock until it returns nil, failing
// the test after a minute of fake time.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call makes an RPC on one server, in-process, bounded by a minute.
func call(ts *testServer, method string, req, resp proto.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return ts.RPC(ctx, method, req, resp)
}

func kvSet(key, value string) *pb.KVApplyRequest {
	return &pb.KVApplyRequest{Op: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: key, Value: []byte(value)}}}
}

// kvValue reads key on ts with the given consistency; "" if absent.
func kvValue(t *testing.T, ts *testServer, key string, mode pb.Consistency) string {
	t.Helper()
	var resp pb.KVGetResponse
	if err := call(ts, MethodKVGet, &pb.KVGetRequest{Key: key, Query: &pb.QueryOptions{Consistency: mode}}, &resp); err != nil {
		t.Fatalf("get %s on %s: %v", key, ts.name, err)
	}
	if len(resp.Entries) == 0 {
		return ""
	}
	return string(resp.Entries[0].Value)
}

func testLogger() *slog.Logger {
	if os.Getenv("MERIDIAN_TEST_LOG") != "" {
		if l, err := logging.New("debug", false, os.Stderr); err == nil {
			return l
		}
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func raftID(ts *testServer) raft.ServerID { return raft.ServerID(ts.id) }

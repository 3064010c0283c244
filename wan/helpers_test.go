package wan

import (
	"bytes"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"go.uber.org/goleak"
)

// waitTimeout bounds every wait for the pool to converge.
const waitTimeout = 20 * time.Second

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen tcp: %v", err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		tl.Close()
		if err != nil {
			continue
		}
		ul.Close()
		return port
	}
	t.Fatal("no free TCP+UDP port pair")
	return 0
}

// logBuffer collects a test pool's logs; they are printed if the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkLeaks fails the test if goroutines started during it outlive it.
// Register it first so that it runs after every other cleanup. Memberlist
// does not wait for its timer and connection goroutines on Shutdown, so
// leftovers get a bounded grace period to exit before they count as leaks.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := goleak.Find(ignore)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked: %v", err)
				return
			}
			time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
		}
	})
}

// testNode is one test server's WAN pool.
type testNode struct {
	pool *Pool
	cfg  Config
	logs *logBuffer
}

// addr is the node's WAN gossip address as host:port.
func (n *testNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.cfg.BindPort) }

// name is the node's WAN member name.
func (n *testNode) name() string { return n.pool.Name() }

// rpcAddr is the RPC address other servers should see.
func (n *testNode) rpcAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.cfg.RPCPort) }

var nodeSeq struct {
	sync.Mutex
	n int
}

// newNode builds (but does not start) a loopback WAN pool of node in dc;
// edit adjusts the config. The pool is shut down when the test ends.
func newNode(t *testing.T, node, dc string, edit func(*Config)) *testNode {
	t.Helper()
	nodeSeq.Lock()
	nodeSeq.n++
	seq := nodeSeq.n
	nodeSeq.Unlock()

	logs := &logBuffer{}
	cfg := DefaultConfig()
	cfg.NodeName = node
	cfg.Datacenter = dc
	cfg.NodeID = fmt.Sprintf("00000000-0000-0000-0000-%012d", seq)
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = freePort(t)
	cfg.RPCPort = 20000 + seq
	cfg.Profile = ProfileLocal
	cfg.RouterTick = 50 * time.Millisecond
	cfg.Version = "0.1.0"
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s.%s): %v", node, dc, err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(); err != nil {
			t.Errorf("Shutdown(%s): %v", p.Name(), err)
		}
		if t.Failed() {
			t.Logf("logs of %s:\n%s", p.Name(), logs)
		}
	})
	return &testNode{pool: p, cfg: cfg, logs: logs}
}

// startNode builds and starts a pool.
func startNode(t *testing.T, node, dc string, edit func(*Config)) *testNode {
	t.Helper()
	n := newNode(t, node, dc, edit)
	if err := n.pool.Start(t.Context()); err != nil {
		t.Fatalf("Start(%s): %v", n.name(), err)
	}
	return n
}

// restart builds and starts a new pool with n's identity, ports and
// snapshot (the same server coming back after a crash).
func restart(t *testing.T, n *testNode) *testNode {
	t.Helper()
	return startNode(t, n.cfg.NodeName, n.cfg.Datacenter, func(c *Config) {
		logger := c.Logger
		*c = n.cfg
		c.Logger = logger
	})
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
}

// memberStatus returns the status of name in p's view ("" if unknown).
func memberStatus(p *Pool, name string) Status {
	for _, m := range p.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

// aliveCount counts p's alive members.
func aliveCount(p *Pool) int {
	n := 0
	for _, m := range p.Members() {
		if m.Status == StatusAlive {
			n++
		}
	}
	return n
}

// serverNames returns the names of the routable servers of dc in p's
// router, sorted, or nil with the error.
func serverNames(p *Pool, dc string) ([]string, error) {
	servers, err := p.Router().ServersFor(dc)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range servers {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names, nil
}

// routes reports whether p's router routes dc to exactly the named servers.
func routes(p *Pool, dc string, names ...string) bool {
	got, err := serverNames(p, dc)
	slices.Sort(names)
	return err == nil && slices.Equal(got, names)
}

// rawSerf starts a bare serf instance on loopback with the given name and
// tags, bypassing the pool's checks: a stand-in for a LAN agent or a
// misconfigured server.
func rawSerf(t *testing.T, name string, tags map[string]string) (*serf.Serf, string) {
	t.Helper()
	port := freePort(t)
	ml := memberlist.DefaultLocalConfig()
	ml.BindAddr, ml.BindPort = "127.0.0.1", port
	ml.LogOutput = nil
	ml.Logger = log.New(discard{}, "", 0)
	sc := serf.DefaultConfig()
	sc.NodeName = name
	sc.Tags = tags
	sc.MemberlistConfig = ml
	sc.LogOutput = nil
	sc.Logger = log.New(discard{}, "", 0)
	s, err := serf.Create(sc)
	if err != nil {
		t.Fatalf("serf.Create(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("shutdown %s: %v", name, err)
		}
	})
	return s, fmt.Sprintf("127.0.0.1:%d", port)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// mentions reports whether err's text carries reason: memberlist passes the
// merge delegate's refusal back as text, without its identity.
func mentions(err, reason error) bool {
	return err != nil && strings.Contains(err.Error(), reason.Error())
}

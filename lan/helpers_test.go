package lan

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitTimeout bounds every wait for the pool to converge.
const waitTimeout = 30 * time.Second

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
		}
	})
}

// testNode describes one test pool.
type testNode struct {
	pool *Pool
	cfg  Config
	logs *logBuffer
}

// addr is the node's gossip address as host:port.
func (n *testNode) addr() string {
	return fmt.Sprintf("127.0.0.1:%d", n.cfg.BindPort)
}

var nodeSeq struct {
	sync.Mutex
	n int
}

// newNode builds (but does not start) a loopback pool in dc1; edit adjusts
// the config. The pool is shut down when the test ends.
func newNode(t *testing.T, name string, edit func(*Config)) *testNode {
	t.Helper()
	nodeSeq.Lock()
	nodeSeq.n++
	seq := nodeSeq.n
	nodeSeq.Unlock()

	logs := &logBuffer{}
	cfg := DefaultConfig()
	cfg.NodeName = name
	cfg.NodeID = fmt.Sprintf("00000000-0000-0000-0000-%012d", seq)
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = freePort(t)
	cfg.Profile = ProfileLocal
	cfg.Version = "0.1.0"
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(); err != nil {
			t.Errorf("Shutdown(%s): %v", name, err)
		}
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, logs)
		}
	})
	return &testNode{pool: p, cfg: cfg, logs: logs}
}

// startNode builds and starts a pool.
func startNode(t *testing.T, name string, edit func(*Config)) *testNode {
	t.Helper()
	n := newNode(t, name, edit)
	if err := n.pool.Start(t.Context()); err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	return n
}

// asServer makes a node a server with the given RPC port.
func asServer(rpcPort int) func(*Config) {
	return func(c *Config) {
		c.Role = RoleServer
		c.RPCPort = rpcPort
	}
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

// waitEvent reads ch until an event satisfies match, failing on timeout or
// if ch closes.
func waitEvent(t *testing.T, ch <-chan Event, what string, match func(Event) bool) Event {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("timed out waiting for event %s", what)
		}
	}
}

// memberEvent matches a member event of kind naming node.
func memberEvent(kind EventKind, node string) func(Event) bool {
	return func(ev Event) bool {
		if ev.Kind != kind {
			return false
		}
		for _, m := range ev.Members {
			if m.Name == node {
				return true
			}
		}
		return false
	}
}

func cmpString(a, b string) int { return strings.Compare(a, b) }

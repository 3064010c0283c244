package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/testcluster"
	"github.com/meridian-io/meridian/lan"
)

func newGossipKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// failureWatch counts, on every agent of a cluster, the LAN members it
// marks failed (or loses track of), until stop.
type failureWatch struct {
	mu     sync.Mutex
	events []string
	stops  []func()
	wg     sync.WaitGroup
}

func watchFailures(c *testcluster.Cluster) *failureWatch {
	w := &failureWatch{}
	for _, n := range c.Nodes {
		ch, cancel := n.Agent.SubscribeLAN()
		w.stops = append(w.stops, cancel)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for ev := range ch {
				if ev.Kind == lan.EventFailed || ev.Kind == lan.EventLeave || ev.Kind == lan.EventReap || ev.Resync {
					w.mu.Lock()
					w.events = append(w.events, fmt.Sprintf("%s saw %s of %v (resync %v)", n.Name, ev.Kind, ev.Members, ev.Resync))
					w.mu.Unlock()
				}
			}
		}()
	}
	return w
}

// stop ends the watch and returns what it saw.
func (w *failureWatch) stop() []string {
	for _, s := range w.stops {
		s()
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events
}

// kvLoad writes keys through client agents until stopped.
type kvLoad struct {
	ok, failed atomic.Int64
	// unknown counts writes answered "outcome unknown": the leader lost
	// its leadership while committing them (a loaded machine can miss
	// Raft's lease); the answer is honest, and the write is not counted
	// as failed.
	unknown  atomic.Int64
	firstErr atomic.Value
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func startKVLoad(t *testing.T, nodes []*testcluster.Node) *kvLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &kvLoad{cancel: cancel}
	for i, n := range nodes {
		kv := client(t, n).KV()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for j := 0; ctx.Err() == nil; j++ {
				p := &api.KVPair{Key: fmt.Sprintf("load/%d/%d", i, j%50), Value: []byte(strconv.Itoa(j))}
				_, err := kv.Put(p, (&api.WriteOptions{}).WithContext(ctx))
				switch {
				case err == nil:
					l.ok.Add(1)
				case ctx.Err() == nil && strings.Contains(err.Error(), "write outcome unknown"):
					l.unknown.Add(1)
				case ctx.Err() == nil:
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *kvLoad) stop() { l.cancel(); l.wg.Wait() }

// waitWrites waits until the load has done n more successful writes.
func (l *kvLoad) waitWrites(t *testing.T, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if got := l.ok.Load(); got < target {
			return fmt.Errorf("%d writes, want %d", got, target)
		}
		return nil
	})
}

// poolKeys finds the WAN and LAN entries of a keyring list.
func poolKeys(t *testing.T, pools []*api.KeyringResponse) (wanPool, lanPool *api.KeyringResponse) {
	t.Helper()
	for _, p := range pools {
		if p.WAN {
			wanPool = p
		} else {
			lanPool = p
		}
	}
	if len(pools) != 2 || wanPool == nil || lanPool == nil {
		t.Fatalf("keyring list has %d pools, want one WAN and one LAN", len(pools))
	}
	return wanPool, lanPool
}

// TestKeyringRotationUnderLoad rotates the gossip key of 3 servers and 20
// client agents while clients write KV, through the official client:
// install the new key, use it, remove the old one. No agent marks any
// member failed meanwhile, every write succeeds, a node that still has only
// the old key cannot join, and a client restarted with the old -encrypt
// comes back with the rotated keyring it kept in its data directory.
func TestKeyringRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("13 agents")
	}
	const servers, clients = 3, 20
	oldKey, newKey := newGossipKey(t), newGossipKey(t)
	c := testcluster.New(t, testcluster.Options{Servers: servers, Clients: clients, Args: []string{"-encrypt", oldKey}})
	all := servers + clients
	first := client(t, c.Servers()[0])
	for _, s := range c.Servers()[1:] {
		if err := first.Agent().Join(s.WANAddr, true); err != nil {
			t.Fatalf("WAN join %s: %v", s.Name, err)
		}
	}
	testcluster.WaitFor(t, 30*time.Second, func() error {
		for _, s := range c.Servers() {
			if got := s.Agent.NumWANMembers(); got != servers {
				return fmt.Errorf("%s sees %d WAN members, want %d", s.Name, got, servers)
			}
		}
		return nil
	})
	op := first.Operator()

	watch := watchFailures(c)
	// Five writers (through every fourth client) keep the servers busy
	// without starving the gossip of 23 agents on a small machine.
	var writers []*testcluster.Node
	for i, n := range c.Clients() {
		if i%4 == 0 {
			writers = append(writers, n)
		}
	}
	load := startKVLoad(t, writers)
	load.waitWrites(t, 50)

	// keysAre waits until every member of both pools holds the keys and
	// encrypts with primary, as an operator checks with keyring -list
	// between the steps of a rotation.
	keysAre := func(step, primary string, keys ...string) {
		t.Helper()
		testcluster.WaitFor(t, 60*time.Second, func() error {
			pools, err := op.KeyringList(nil)
			if err != nil {
				return err
			}
			w, l := poolKeys(t, pools)
			for _, p := range []struct {
				r    *api.KeyringResponse
				want int
			}{{w, servers}, {l, all}} {
				if p.r.NumNodes != p.want || len(p.r.Keys) != len(keys) || p.r.PrimaryKeys[primary] != p.want || p.r.Datacenter != "dc1" {
					return fmt.Errorf("%s: %+v", step, p.r)
				}
				for _, k := range keys {
					if p.r.Keys[k] != p.want {
						return fmt.Errorf("%s: %+v", step, p.r)
					}
				}
			}
			return nil
		})
	}
	// do runs one step of the rotation; each is idempotent, so a step
	// some member did not answer is asked again.
	do := func(step string, f func() error) {
		t.Helper()
		testcluster.WaitFor(t, 60*time.Second, func() error {
			if err := f(); err != nil {
				t.Logf("%s: %v", step, err)
				return err
			}
			return nil
		})
	}

	keysAre("before rotation", oldKey, oldKey)
	start := time.Now()
	do("install", func() error { return op.KeyringInstall(newKey, nil) })
	keysAre("after install", oldKey, oldKey, newKey)
	load.waitWrites(t, 20)
	do("use", func() error { return op.KeyringUse(newKey, nil) })
	keysAre("after use", newKey, oldKey, newKey)
	load.waitWrites(t, 20)
	do("remove", func() error { return op.KeyringRemove(oldKey, nil) })
	keysAre("after remove", newKey, newKey)
	rotation := time.Since(start)
	// Keep the load and the gossip going over the new key for a while.
	load.waitWrites(t, 200)

	// A node with only the old key cannot join.
	intruderKey := oldKey
	if err := joinWithKey(t, intruderKey, c.Servers()[0].LANAddr); err == nil {
		t.Error("a node with the removed key joined")
	}

	load.stop()
	if seen := watch.stop(); len(seen) > 0 {
		t.Errorf("%d membership losses during rotation, first: %s", len(seen), seen[0])
	}
	if n := load.failed.Load(); n > 0 {
		t.Errorf("%d of %d KV writes failed during rotation, first: %v", n, n+load.ok.Load(), load.firstErr.Load())
	}
	// A leadership change leaves at most each writer's one write in
	// flight without a known outcome.
	if n := load.unknown.Load(); n > int64(len(writers)) {
		t.Errorf("%d KV writes with an unknown outcome during rotation (more than one leadership change's worth)", n)
	} else if n > 0 {
		t.Logf("%d KV writes answered 'outcome unknown' (a leadership change on the loaded machine)", n)
	}
	for _, n := range c.Nodes {
		if got := n.Agent.NumLANMembers(); got != all {
			t.Errorf("%s sees %d alive members, want %d", n.Name, got, all)
		}
	}
	t.Logf("rotation (install, list, use, list, remove, list) took %v; %d KV writes, 0 members failed", rotation.Round(time.Millisecond), load.ok.Load())

	// A restarted client still has -encrypt oldKey; its data directory's
	// keyring, written by the rotation, wins.
	restarted := c.Clients()[0]
	c.Stop(restarted)
	c.Start(restarted)
	testcluster.WaitFor(t, 30*time.Second, func() error {
		if got := restarted.Agent.NumLANMembers(); got != all {
			return fmt.Errorf("restarted client sees %d members, want %d", got, all)
		}
		return nil
	})
}

// joinWithKey starts a lone client agent gossiping with key and makes it
// join addr; it returns the join's error.
func joinWithKey(t *testing.T, key, addr string) error {
	t.Helper()
	ports := testcluster.FreePorts(t, 4)
	n := agent.LocalNode{Name: "intruder", Datacenter: "dc1", DataDir: t.TempDir(),
		HTTPPort: ports[0], ServerPort: ports[1], SerfLANPort: ports[2], SerfWANPort: ports[3]}
	cfg, _, err := config.Load(append(n.Args(), "-encrypt", key))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	intruder, err := api.NewClient(&api.Config{Address: "127.0.0.1:" + strconv.Itoa(ports[0])})
	if err != nil {
		t.Fatal(err)
	}
	return intruder.Agent().Join(addr, false)
}

// TestKeyringBadInput: malformed keys, a use of a key not installed and a
// removal of the primary key are 400s with one line, and change nothing.
func TestKeyringBadInput(t *testing.T) {
	key := newGossipKey(t)
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-encrypt", key}})
	addr := "http://" + c.Servers()[0].HTTPAddr + "/v1/operator/keyring"
	short := base64.StdEncoding.EncodeToString(make([]byte, 20))
	cases := []struct{ name, method, body, want string }{
		{"not base64", http.MethodPost, `{"Key":"not base64!"}`, "not base64"},
		{"wrong length", http.MethodPost, `{"Key":"` + short + `"}`, "20 bytes"},
		{"no key", http.MethodPost, `{}`, "must name a key"},
		{"not JSON", http.MethodPost, `Key=x`, "decode"},
		{"use a key not installed", http.MethodPut, `{"Key":"` + newGossipKey(t) + `"}`, "not installed"},
		{"remove the primary", http.MethodDelete, `{"Key":"` + key + `"}`, "primary key"},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, addr, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		msg := strings.TrimSpace(string(b))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %d %q, want 400 and one line with %q", tc.name, resp.StatusCode, msg, tc.want)
		}
	}
	pools, err := client(t, c.Servers()[0]).Operator().KeyringList(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pools {
		if len(p.Keys) != 1 || p.Keys[key] != 1 {
			t.Errorf("keyring changed: %+v", p)
		}
	}
}

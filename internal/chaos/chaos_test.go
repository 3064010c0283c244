package chaos

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

var (
	duration = flag.Duration("chaos.duration", 20*time.Second, "how long clients run under faults (soak: e.g. 10m)")
	seedFlag = flag.Uint64("chaos.seed", 0, "seed of the fault schedule and the clients; 0 picks one (printed)")
	clientsN = flag.Int("chaos.clients", 8, "concurrent clients")
	keysN    = flag.Int("chaos.keys", 40, "keys the clients contend on at a time")
	epochF   = flag.Duration("chaos.epoch", 30*time.Second, "clients move to fresh keys this often, so long runs stay quick to check")
)

// faultKind is one kind of fault the schedule injects.
type faultKind string

const (
	faultIsolateLeader   faultKind = "isolate-leader"
	faultIsolateFollower faultKind = "isolate-follower"
	faultOneWayLeader    faultKind = "one-way-leader-out"
	faultKillLeader      faultKind = "kill-restart-leader"
	faultRollingRestart  faultKind = "rolling-restart"
	faultPauseLeader     faultKind = "pause-leader"
	faultSlowDisk        faultKind = "slow-disk"
)

var allFaults = []faultKind{faultIsolateLeader, faultIsolateFollower, faultOneWayLeader, faultKillLeader,
	faultRollingRestart, faultPauseLeader, faultSlowDisk}

// report is what a run prints at the end.
type report struct {
	seed       uint64
	faults     map[faultKind]int
	recoveries []time.Duration
	check      time.Duration // how long porcupine took
}

func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	if *dcsFlag == 2 {
		t.Skip("-chaos.dcs 2: the two-DC run (TestTwoDCsUnderWANFaults) takes the duration")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("chaos seed %d (replay the schedule with -chaos.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	nw := faultnet.New()
	// A client agent with a service: the catalog must still be whole
	// after the faults (leader reconcile and anti-entropy across leader
	// changes and restarts).
	c := testcluster.New(t, testcluster.Options{Servers: 3, Clients: 1, Network: nw})
	c.WaitForLeader(30 * time.Second)
	registerService(t, c.Clients()[0])
	var addrs []string
	for _, n := range c.Servers() {
		addrs = append(addrs, n.HTTPAddr)
	}
	w := NewWorkload(addrs, *keysN)
	w.Epoch = *epochF
	ctx, stop := context.WithTimeout(context.Background(), *duration)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, *clientsN, seed) }()
	// One watcher per server follows the contended keys throughout.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watchers := make([]*Watcher, len(addrs))
	for i, a := range addrs {
		watchers[i] = &Watcher{}
		go watchers[i].Watch(watchCtx, a)
	}

	rep := &report{seed: seed, faults: map[faultKind]int{}}
	for ctx.Err() == nil {
		kind := allFaults[rng.IntN(len(allFaults))]
		hold := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		inject(t, c, nw, kind, hold, rng)
		rep.faults[kind]++
		rep.recoveries = append(rep.recoveries, recover(t, c, nw))
		// Quiet period between faults, cut short by the end of the run.
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(500+rng.IntN(1500)) * time.Millisecond):
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	nw.HealAll()
	for _, n := range c.Nodes {
		n.DiskDelay.Store(0)
	}
	c.WaitForLeader(30 * time.Second)

	// Durability: every acknowledged write is on every server once healed
	// (counted here, asserted after the report).
	acked := w.Acked()
	lost := lostWrites(t, c.Servers(), acked, "after the faults healed")
	// Watch guarantees: no answer went back in index, and once the writes
	// stopped every watcher converged on the final state.
	final, _, err := consistentList(c.Servers()[0].HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	for i, wt := range watchers {
		testcluster.WaitFor(t, 30*time.Second, func() error {
			seen, _, violations := wt.State()
			if len(violations) > 0 {
				t.Fatalf("watcher %d: blocking query went back: %v", i, violations[:min(3, len(violations))])
			}
			if !samePairs(seen, final) {
				return fmt.Errorf("watcher %d has not seen the final state yet", i)
			}
			return nil
		})
	}
	stopWatch()
	catalogStart := time.Now()
	for _, n := range c.Servers() {
		testcluster.WaitFor(t, 60*time.Second, func() error { return catalogWhole(n.HTTPAddr, c.Nodes) })
	}
	t.Logf("catalog whole on every server %s after the faults ended", time.Since(catalogStart).Round(time.Millisecond))

	// Crash of every server at once loses nothing acknowledged.
	for _, n := range c.Servers() {
		c.Stop(n)
	}
	for _, n := range c.Nodes {
		if n.Agent == nil {
			c.Start(n)
		}
	}
	c.WaitForLeader(30 * time.Second)
	maps.Copy(lost, lostWrites(t, c.Servers(), acked, "after a crash of every server"))

	ops := w.History.Operations()
	t.Logf("checking %d operations for linearizability", len(ops))
	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(KVModel.ToModel(), ops, 3*time.Minute)
	rep.check = time.Since(checkStart)
	rep.print(t, w, res, len(lost))
	if len(lost) > 0 {
		keys := slices.Sorted(maps.Keys(lost))
		t.Fatalf("%d of %d acknowledged durable writes lost (e.g. %q); replay with -chaos.seed %d", len(lost), len(acked), keys[:min(5, len(keys))], seed)
	}
	if res == porcupine.Unknown {
		t.Fatalf("linearizability check did not finish within its bound; replay with -chaos.seed %d", seed)
	}
	if res != porcupine.Ok {
		path := filepath.Join(t.TempDir(), "history.html")
		if os.Getenv("MERIDIAN_CHAOS_OUT") != "" {
			path = os.Getenv("MERIDIAN_CHAOS_OUT")
		}
		if err := porcupine.VisualizePath(KVModel.ToModel(), info, path); err == nil {
			t.Logf("history visualised in %s", path)
		}
		dumpIllegal(t, w.History.Operations())
		t.Fatalf("history is not linearizable (%s); replay with -chaos.seed %d", res, seed)
	}
	if v := w.StaleViolations(); len(v) > 0 {
		t.Fatalf("stale reads went back in index: %v", v[:min(5, len(v))])
	}
}

// lostWrites counts the acknowledged durable writes some server lacks or
// holds with another value. Each server gets up to 30 s to catch up (a
// restarted one replays its log); whatever it still lacks then is lost.
// A server that cannot be read at all within that time fails the test:
// nothing could be counted.
func lostWrites(t *testing.T, servers []*testcluster.Node, acked map[string]string, when string) map[string]bool {
	t.Helper()
	lost := map[string]bool{}
	for _, n := range servers {
		deadline := time.Now().Add(30 * time.Second)
		for {
			missing, err := LostWrites(n.HTTPAddr, acked)
			if err == nil && len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					t.Fatalf("%s: %s, cannot read the acknowledged writes: %v", n.Name, when, err)
				}
				t.Logf("%s: %s, %d acknowledged writes missing (e.g. %s)", n.Name, when, len(missing), missing[0])
				for _, k := range missing {
					lost[k] = true
				}
				break
			}
			<-time.After(100 * time.Millisecond) // polling pace of a bounded wait
		}
	}
	return lost
}

// inject applies one fault for hold, then undoes it.
func inject(t *testing.T, c *testcluster.Cluster, nw *faultnet.Network, kind faultKind, hold time.Duration, rng *rand.Rand) {
	t.Helper()
	leader := c.Leader()
	if leader == nil {
		leader = c.WaitForLeader(30 * time.Second)
	}
	followers := c.Followers()
	switch kind {
	case faultIsolateLeader:
		nw.Isolate(leader.Name)
		last(hold)
	case faultIsolateFollower:
		if len(followers) > 0 {
			nw.Isolate(followers[rng.IntN(len(followers))].Name)
			last(hold)
		}
	case faultOneWayLeader:
		for _, f := range followers {
			nw.Cut(leader.Name, f.Name)
		}
		last(hold)
	case faultKillLeader:
		c.Stop(leader)
		last(hold)
		c.Start(leader)
	case faultRollingRestart:
		for _, n := range c.Servers() {
			c.Stop(n)
			c.Start(n)
			c.WaitForLeader(30 * time.Second)
		}
	case faultPauseLeader:
		// In-process stand-in for SIGSTOP (the e2e suite sends the real
		// one): the leader hears nothing, says nothing and its disk hangs.
		nw.Isolate(leader.Name)
		leader.DiskDelay.Store(int64(hold))
		last(hold)
		leader.DiskDelay.Store(0)
	case faultSlowDisk:
		n := c.Servers()[rng.IntN(len(c.Servers()))]
		n.DiskDelay.Store(int64(time.Duration(20+rng.IntN(200)) * time.Millisecond))
		last(hold)
		n.DiskDelay.Store(0)
	}
	nw.HealAll()
}

// last lets a fault stand for d: the schedule's fault duration, not a
// wait for anything to happen.
func last(d time.Duration) { <-time.After(d) }

// recover measures the time from healing until a write goes through.
func recover(t *testing.T, c *testcluster.Cluster, nw *faultnet.Network) time.Duration {
	t.Helper()
	start := time.Now()
	testcluster.WaitFor(t, 60*time.Second, func() error {
		for _, n := range c.Servers() {
			cl, err := newClient(n.HTTPAddr)
			if err != nil {
				return err
			}
			if _, err := cl.KV().Put(&api.KVPair{Key: "probe", Value: []byte("x")}, nil); err == nil {
				return nil
			}
		}
		return fmt.Errorf("no server accepts writes")
	})
	return time.Since(start)
}

func (r *report) print(t *testing.T, w *Workload, res porcupine.CheckResult, lost int) {
	slices.Sort(r.recoveries)
	var p50, maxRec time.Duration
	if n := len(r.recoveries); n > 0 {
		p50, maxRec = r.recoveries[n/2], r.recoveries[n-1]
	}
	var kinds []string
	for _, k := range allFaults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, r.faults[k]))
	}
	t.Logf("chaos report: seed=%d ops=%d (failed without effect %d, indeterminate writes %d, stale reads %d) "+
		"faults: %s; linearizability: %s (checked in %s); acknowledged durable writes %d, lost %d; recovery p50=%s max=%s",
		r.seed, w.Stats.Ops.Load(), w.Stats.Failed.Load(), w.Stats.Unknown.Load(), w.Stats.StaleReads.Load(),
		strings.Join(kinds, " "), res, r.check.Round(time.Millisecond), w.Stats.AckedDurable.Load(), lost, p50.Round(time.Millisecond), maxRec.Round(time.Millisecond))
}

// dumpIllegal logs, for each key whose history is not linearizable, its
// operations in call order.
func dumpIllegal(t *testing.T, ops []porcupine.Operation) {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range ops {
		k := op.Input.(Input).Group
		byKey[k] = append(byKey[k], op)
	}
	model := KVModel.ToModel()
	for k, kops := range byKey {
		if porcupine.CheckOperationsTimeout(model, kops, 30*time.Second) != porcupine.Illegal {
			continue
		}
		slices.SortFunc(kops, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		var b strings.Builder
		for _, op := range kops {
			fmt.Fprintf(&b, "\n  [%8.3fms %8.3fms] c%d %s %v", float64(op.Call)/1e6, float64(op.Return)/1e6, op.ClientId,
				model.DescribeOperation(op.Input, op.Output), op.Metadata)
		}
		t.Logf("key %s is not linearizable:%s", k, b.String())
		return
	}
}

// registerService registers the service the catalog check looks for on
// the client agent n, and waits until the catalog has it.
func registerService(t *testing.T, n *testcluster.Node) {
	t.Helper()
	cl, err := newClient(n.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080}); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 30*time.Second, func() error {
		svcs, _, err := cl.Catalog().Service("web", "", nil)
		if err != nil || len(svcs) != 1 {
			return fmt.Errorf("web not in the catalog yet (%d, %v)", len(svcs), err)
		}
		return nil
	})
}

// catalogWhole checks, on the server at addr (its own state), that every
// node of the cluster is in the catalog with a passing serfHealth and the
// client's service is registered.
func catalogWhole(addr string, nodes []*testcluster.Node) error {
	cl, err := newClient(addr)
	if err != nil {
		return err
	}
	stale := &api.QueryOptions{AllowStale: true}
	for _, n := range nodes {
		checks, _, err := cl.Health().Node(n.Name, stale)
		if err != nil {
			return err
		}
		passing := false
		for _, ch := range checks {
			passing = passing || (ch.CheckID == "serfHealth" && ch.Status == api.HealthPassing)
		}
		if !passing {
			return fmt.Errorf("%s: node %s has no passing serfHealth (%d checks)", addr, n.Name, len(checks))
		}
	}
	svcs, _, err := cl.Catalog().Service("web", "", stale)
	if err != nil {
		return err
	}
	if len(svcs) != 1 || svcs[0].ServiceID != "web-1" {
		return fmt.Errorf("%s: service web has %d instances, want web-1", addr, len(svcs))
	}
	return nil
}

func consistentList(addr string) ([]*api.KVPair, uint64, error) {
	c, err := newClient(addr)
	if err != nil {
		return nil, 0, err
	}
	pairs, meta, err := c.KV().List("lin/", &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		return nil, 0, err
	}
	return pairs, meta.LastIndex, nil
}

func samePairs(a, b []*api.KVPair) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || string(a[i].Value) != string(b[i].Value) || a[i].ModifyIndex != b[i].ModifyIndex {
			return false
		}
	}
	return true
}

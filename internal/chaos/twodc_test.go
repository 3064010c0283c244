package chaos

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/faultnet"
	"github.com/meridian-io/meridian/internal/testcluster"
)

var dcsFlag = flag.Int("chaos.dcs", 1, "datacenters: 2 runs the two-DC schedule (TestTwoDCsUnderWANFaults) for -chaos.duration "+
	"and skips the one-DC run; with 1 the two-DC run is a short one")

// twoDCShortRun is how long clients run in the two-DC test of the normal
// suite (without -chaos.dcs 2).
const twoDCShortRun = 12 * time.Second

// faultWANPartition cuts every link between the two datacenters' servers
// (RPC, Raft dials and WAN gossip, both ways); faultWANOneWay cuts them in
// one direction only (a dial needs both, so no new connection either).
const (
	faultWANPartition faultKind = "wan-partition"
	faultWANOneWay    faultKind = "wan-one-way"
)

var wanOneWay = flag.Bool("chaos.wan-one-way", true, "two-DC mode: half of the WAN faults after the first cut one direction only")

// Bounds the two-DC run asserts.
const (
	// crossFailFastBound bounds the latency of every cross-DC call that
	// overlapped a WAN partition and was not answered within it.
	crossFailFastBound = 5 * time.Second
	// healBound bounds the time from healing a WAN partition until a
	// cross-DC call succeeds from every server, both ways.
	healBound = 60 * time.Second
	// crossTimeout is the cross-DC clients' HTTP timeout: longer than
	// crossFailFastBound, so that failing fast is the servers' doing.
	crossTimeout = 15 * time.Second
)

// wanWatch sorts the operations of the two-DC run by the WAN partitions
// they overlapped: it counts the local operations each datacenter
// answered during each cut, and records every cross-DC call that
// overlapped a cut and was not answered within it (it failed, or, not
// failing fast, was answered only after the heal), with its latency.
type wanWatch struct {
	mu       sync.Mutex
	windows  []window // the cuts, in order; the last one's end is zero while it stands
	localOK  [2]int   // local operations answered during the current cut
	crossOK  int      // cross-DC calls made and answered within a cut
	failed   []time.Duration
	late     []time.Duration // in flight during a whole cut or made in one, answered after its heal
	slowest  time.Duration   // the slowest failed cross-DC call, and its error
	slowErr  string
	failedBy map[string]int // failed cross-DC calls by failureKind
	cuts     []cutStats
	heals    []time.Duration
	lateMade time.Duration // the latest a late call was made, after its cut began
}

// window is one WAN partition, from the cut to the heal.
type window struct{ start, end time.Time }

// cutStats is what one WAN partition saw.
type cutStats struct {
	kind    string
	hold    time.Duration
	localOK [2]int
}

func (cs cutStats) String() string {
	return fmt.Sprintf("%s %s: local ops dc1=%d dc2=%d", cs.kind, cs.hold.Round(time.Millisecond), cs.localOK[0], cs.localOK[1])
}

// current returns the cut standing now, or nil; ww.mu is held.
func (ww *wanWatch) current() *window {
	if n := len(ww.windows); n > 0 && ww.windows[n-1].end.IsZero() {
		return &ww.windows[n-1]
	}
	return nil
}

func (ww *wanWatch) observeLocal(dc int) func(time.Time, time.Duration, error) {
	return func(call time.Time, _ time.Duration, err error) {
		ww.mu.Lock()
		defer ww.mu.Unlock()
		if w := ww.current(); w != nil && err == nil && !call.Before(w.start) {
			ww.localOK[dc]++
		}
	}
}

func (ww *wanWatch) observeCross(call time.Time, took time.Duration, err error) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	ret := call.Add(took)
	for i := len(ww.windows) - 1; i >= 0; i-- {
		w := ww.windows[i]
		if !w.end.IsZero() && !call.Before(w.end) {
			continue // made after this cut healed
		}
		if ret.Before(w.start) {
			if i == 0 || ret.Before(ww.windows[i-1].start) {
				return // answered before any cut it could overlap
			}
			continue
		}
		healed := !w.end.IsZero() && ret.After(w.end)
		switch {
		case err != nil:
			ww.failed = append(ww.failed, took)
			if ww.failedBy == nil {
				ww.failedBy = map[string]int{}
			}
			ww.failedBy[failureKind(err)]++
			if took > ww.slowest {
				ww.slowest, ww.slowErr = took, err.Error()
			}
		case healed:
			ww.late = append(ww.late, took)
			if off := call.Sub(w.start); len(ww.late) == 1 || off > ww.lateMade {
				ww.lateMade = off
			}
		case !healed && !call.Before(w.start):
			ww.crossOK++
		}
		return
	}
}

// failureKind sorts a failed cross-DC call by what its server found: the
// router had no alive server of the other datacenter, dials to them
// failed, or anything else (a timeout, a broken connection).
func failureKind(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no alive server"):
		return "no-alive-server"
	case strings.Contains(msg, "request not sent"):
		return "not-sent"
	case strings.Contains(msg, "No path to datacenter"):
		return "no-path"
	}
	return "other"
}

func (ww *wanWatch) cut() {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	ww.windows = append(ww.windows, window{start: time.Now()})
	ww.localOK = [2]int{}
}

func (ww *wanWatch) healed(kind string) cutStats {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	w := ww.current()
	w.end = time.Now()
	cs := cutStats{kind: kind, hold: w.end.Sub(w.start), localOK: ww.localOK}
	ww.cuts = append(ww.cuts, cs)
	return cs
}

// dcRun is one datacenter of the two-DC run: its cluster, the workload of
// its own clients and the cross-DC workload whose clients ask its servers
// for the other datacenter.
type dcRun struct {
	name  string
	c     *testcluster.Cluster
	local *Workload
	cross *Workload // clients of this DC's servers, ?dc= the other DC
}

func TestTwoDCsUnderWANFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	if *dcsFlag != 1 && *dcsFlag != 2 {
		t.Fatalf("-chaos.dcs %d: the chaos schedule runs one or two datacenters", *dcsFlag)
	}
	runFor := twoDCShortRun
	if *dcsFlag == 2 {
		runFor = *duration
	}
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("two-DC chaos seed %d (replay the schedule with -chaos.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	nw := faultnet.New()
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 3, Network: nw})

	ww := &wanWatch{}
	dcs := make([]*dcRun, 2)
	for i, c := range f.DCs {
		var addrs []string
		for _, n := range c.Servers() {
			addrs = append(addrs, n.HTTPAddr)
		}
		local := NewWorkload(addrs, *keysN)
		local.Epoch = *epochF
		local.Observe = ww.observeLocal(i)
		dcs[i] = &dcRun{name: fmt.Sprintf("dc%d", i+1), c: c, local: local}
	}
	for i, d := range dcs {
		other := dcs[1-i]
		x := NewWorkload(d.local.Addrs, *keysN)
		x.DC, x.IDBase, x.Timeout = other.name, 1000, crossTimeout
		x.History, x.Epoch = other.local.History, other.local.Epoch
		x.Observe = ww.observeCross
		d.cross = x
	}

	ctx, stop := context.WithTimeout(context.Background(), runFor)
	defer stop()
	localClients, crossClients := max(1, *clientsN/2), max(1, *clientsN/4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, d := range dcs {
		for _, run := range []struct {
			w *Workload
			n int
		}{{d.local, localClients}, {d.cross, crossClients}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- run.w.Run(ctx, run.n, seed+uint64(i)*7919)
			}()
		}
	}

	groups := [2][]string{serverNames(dcs[0].c), serverNames(dcs[1].c)}
	rep := &report{seed: seed, faults: map[faultKind]int{}}
	for first := true; ctx.Err() == nil; first = false {
		if first || rng.IntN(3) == 0 {
			// A WAN partition first, so that a short run has one.
			kind := faultWANPartition
			desc := string(kind)
			if !first && *wanOneWay && rng.IntN(2) == 0 {
				kind = faultWANOneWay
			}
			hold := time.Duration(4000+rng.IntN(4000)) * time.Millisecond
			if kind == faultWANPartition {
				nw.Partition(groups[0], groups[1])
			} else {
				from := rng.IntN(2)
				nw.CutGroups(groups[from], groups[1-from])
				desc = fmt.Sprintf("%s dc%d->dc%d", kind, from+1, 2-from)
			}
			ww.cut()
			last(hold)
			nw.HealPartition(groups[0], groups[1])
			healedAt := time.Now()
			cs := ww.healed(desc)
			t.Logf("%s", cs)
			rep.faults[kind]++
			// A cut still standing when the run's clients stopped saw
			// none of their operations: only cuts healed before are judged.
			if ctx.Err() == nil && (cs.localOK[0] == 0 || cs.localOK[1] == 0) {
				t.Errorf("during a WAN partition of %s the datacenters answered %d and %d local operations, want some in both",
					cs.hold.Round(time.Millisecond), cs.localOK[0], cs.localOK[1])
			}
			ww.heals = append(ww.heals, crossHeal(t, dcs, healedAt))
		} else {
			d := dcs[rng.IntN(2)]
			kind := allFaults[rng.IntN(len(allFaults))]
			hold := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
			inject(t, d.c, nw, kind, hold, rng)
			rep.faults[kind]++
			rep.recoveries = append(rep.recoveries, recover(t, d.c, nw))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(500+rng.IntN(1500)) * time.Millisecond):
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	nw.HealAll()
	for _, d := range dcs {
		for _, n := range d.c.Nodes {
			n.DiskDelay.Store(0)
		}
		d.c.WaitForLeader(30 * time.Second)
	}

	// Per datacenter: every acknowledged write, local or from the other
	// datacenter, is on every server, and the history of its keys (local
	// and cross-DC operations) is linearizable.
	results := make([]dcResult, 2)
	for i, d := range dcs {
		acked := d.local.Acked()
		maps.Copy(acked, dcs[1-i].cross.Acked())
		lost := lostWrites(t, d.c.Servers(), acked, d.name+" after the faults healed")
		ops := d.local.History.Operations()
		start := time.Now()
		res, _ := porcupine.CheckOperationsVerbose(KVModel.ToModel(), ops, 3*time.Minute)
		results[i] = dcResult{ops: len(ops), acked: len(acked), lost: len(lost), res: res, check: time.Since(start)}
		if res == porcupine.Illegal {
			dumpIllegal(t, ops)
		}
	}
	rep.printTwoDC(t, dcs, results, ww)

	for i, d := range dcs {
		r := results[i]
		if r.lost > 0 {
			t.Errorf("%s: %d of %d acknowledged durable writes lost; replay with -chaos.seed %d", d.name, r.lost, r.acked, seed)
		}
		if r.res != porcupine.Ok {
			t.Errorf("%s: history of %d operations is not linearizable (%s); replay with -chaos.seed %d", d.name, r.ops, r.res, seed)
		}
		if v := d.local.StaleViolations(); len(v) > 0 {
			t.Errorf("%s: stale reads went back in index: %v", d.name, v[:min(5, len(v))])
		}
	}
	if ww.crossOK > 0 {
		t.Errorf("%d cross-DC calls made during a WAN partition succeeded", ww.crossOK)
	}
	if len(ww.failed) == 0 {
		t.Errorf("no cross-DC call failed during %d WAN partitions: the fault did not bite", len(ww.cuts))
	}
	// Failing fast: every cross-DC call that overlapped a cut and was not
	// answered within it took at most the bound, whether it failed or was
	// answered after the heal: none was held by the cut (a call in flight
	// on a connection that went dark fails once its session's pings go
	// unanswered, not at the heal or the RPC hold timeout).
	if worst := percentile(slices.Clone(ww.failed), 100); worst > crossFailFastBound {
		t.Errorf("cross-DC calls that failed during WAN partitions: max latency %s (%q), want at most %s", worst, ww.slowErr, crossFailFastBound)
	}
	if held := percentile(slices.Clone(ww.late), 100); held > crossFailFastBound {
		t.Errorf("%d cross-DC calls overlapping a WAN partition were answered only after its heal, the slowest after %s, want within %s",
			len(ww.late), held, crossFailFastBound)
	}
}

// dcResult is one datacenter's verdict.
type dcResult struct {
	ops, acked, lost int
	res              porcupine.CheckResult
	check            time.Duration
}

func serverNames(c *testcluster.Cluster) []string {
	var names []string
	for _, n := range c.Servers() {
		names = append(names, n.Name)
	}
	return names
}

// crossHeal measures the time from healing a WAN partition until every
// server of each datacenter has answered a read of the other datacenter.
func crossHeal(t *testing.T, dcs []*dcRun, healedAt time.Time) time.Duration {
	t.Helper()
	for i, d := range dcs {
		other := dcs[1-i].name
		for _, n := range d.c.Servers() {
			cl, err := newClientTimeout(n.HTTPAddr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			testcluster.WaitFor(t, healBound-time.Since(healedAt), func() error {
				_, _, err := cl.KV().Get("probe", &api.QueryOptions{Datacenter: other})
				if err != nil {
					return fmt.Errorf("%s ?dc=%s after the WAN healed: %w", n.Name, other, err)
				}
				return nil
			})
		}
	}
	return time.Since(healedAt)
}

// percentile returns the p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)]
}

func (r *report) printTwoDC(t *testing.T, dcs []*dcRun, results []dcResult, ww *wanWatch) {
	var kinds []string
	for _, k := range append([]faultKind{faultWANPartition, faultWANOneWay}, allFaults...) {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, r.faults[k]))
	}
	var perDC []string
	for i, d := range dcs {
		res := results[i]
		perDC = append(perDC, fmt.Sprintf("%s: ops local %d + cross-DC in %d (failed without effect %d+%d, indeterminate writes %d+%d), "+
			"linearizability %s over %d operations (checked in %s), acknowledged durable writes %d, lost %d",
			d.name, d.local.Stats.Ops.Load(), dcs[1-i].cross.Stats.Ops.Load(),
			d.local.Stats.Failed.Load(), dcs[1-i].cross.Stats.Failed.Load(),
			d.local.Stats.Unknown.Load(), dcs[1-i].cross.Stats.Unknown.Load(),
			res.res, res.ops, res.check.Round(time.Millisecond), res.acked, res.lost))
	}
	minLocal := [2]int{-1, -1}
	for _, cs := range ww.cuts {
		for i := range minLocal {
			if minLocal[i] < 0 || cs.localOK[i] < minLocal[i] {
				minLocal[i] = cs.localOK[i]
			}
		}
	}
	failed := slices.Clone(ww.failed)
	heals := slices.Clone(ww.heals)
	slices.Sort(r.recoveries)
	var recP50, recMax time.Duration
	if n := len(r.recoveries); n > 0 {
		recP50, recMax = r.recoveries[n/2], r.recoveries[n-1]
	}
	t.Logf("two-DC chaos report: seed=%d faults: %s\n  %s\n  WAN partitions %d: cross-DC calls failed during the cuts %d "+
		"(latency p50=%s p99=%s max=%s), answered during the cuts %d, answered only after a heal %d (max %s, made at most %s after their cut began); fewest local ops answered during a cut dc1=%d dc2=%d; "+
		"heal to cross-DC success from every server p50=%s max=%s; in-DC fault recovery p50=%s max=%s\n  failed cross-DC calls by cause %v; slowest: %q",
		r.seed, strings.Join(kinds, " "), strings.Join(perDC, "\n  "),
		len(ww.cuts), len(failed), percentile(failed, 50).Round(time.Millisecond), percentile(failed, 99).Round(time.Millisecond),
		percentile(failed, 100).Round(time.Millisecond), ww.crossOK, len(ww.late), percentile(slices.Clone(ww.late), 100).Round(time.Millisecond), ww.lateMade.Round(time.Millisecond),
		minLocal[0], minLocal[1],
		percentile(heals, 50).Round(time.Millisecond), percentile(heals, 100).Round(time.Millisecond),
		recP50.Round(time.Millisecond), recMax.Round(time.Millisecond), ww.failedBy, ww.slowErr)
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// rollingBound is how long the whole rolling restart may take.
const rollingBound = 60 * time.Second

// balancer hands the workers a running server, round robin, as a load
// balancer in front of the servers' HTTP ports does: a server being
// restarted is drained first (no new requests; those in flight finish).
type balancer struct {
	mu       sync.Mutex
	cond     *sync.Cond
	servers  []*agentProc
	draining map[*agentProc]bool
	inflight map[*agentProc]int
	next     int
}

func newBalancer(servers []*agentProc) *balancer {
	b := &balancer{servers: servers, draining: map[*agentProc]bool{}, inflight: map[*agentProc]int{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// do runs fn against the next server not draining.
func (b *balancer) do(fn func(p *agentProc) error) error {
	b.mu.Lock()
	var p *agentProc
	for range b.servers {
		c := b.servers[b.next%len(b.servers)]
		b.next++
		if !b.draining[c] {
			p = c
			break
		}
	}
	b.inflight[p]++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inflight[p]--
		b.cond.Broadcast()
		b.mu.Unlock()
	}()
	return fn(p)
}

// drain stops new requests to p and waits for those in flight.
func (b *balancer) drain(p *agentProc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draining[p] = true
	for b.inflight[p] > 0 {
		b.cond.Wait()
	}
}

func (b *balancer) undrain(p *agentProc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draining[p] = false
}

// rollingLoad is what the workers saw.
type rollingLoad struct {
	mu       sync.Mutex
	acked    map[string]string
	requests int
	noLeader int
	failures []string
}

func (l *rollingLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

// isNoLeader is the answer a client retries: no leader yet (an election,
// or a leadership transfer in progress).
func isNoLeader(err error) bool {
	return err != nil && strings.Contains(err.Error(), "No cluster leader")
}

// TestRollingRestart restarts each of three servers in turn under 8
// writers and 8 readers, as an operator upgrades a datacenter: drain the
// server, hand leadership away if it leads (operator raft
// transfer-leader), SIGTERM, start it again, and go on once autopilot
// reports every server healthy. No request may fail except "No cluster
// leader" answers, which the workers retry, and every acknowledged write
// must be readable at the end.
func TestRollingRestart(t *testing.T) {
	start := time.Now()
	e := newEnv(t)
	servers := e.startServers(3)
	e.waitLeader(startTimeout, "", servers...)

	// Servers advertise the versions they speak in their gossip tags, so a
	// mixed-version datacenter can tell them apart.
	members, err := servers[0].API.Agent().Members(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		for _, tag := range []string{"build", "vsn", "vsn_min", "vsn_max", "raft_vsn"} {
			if m.Tags[tag] == "" {
				t.Fatalf("member %s has no %q gossip tag: %v", m.Name, tag, m.Tags)
			}
		}
	}
	waitAllHealthy(e, servers)

	lb := newBalancer(servers)
	load := &rollingLoad{acked: map[string]string{}}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rollingWriter(ctx, lb, load, w)
		}()
	}
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rollingReader(ctx, lb, load, r)
		}()
	}
	stopLoad := func() {
		stop()
		wg.Wait()
	}
	defer stopLoad()

	for _, p := range servers {
		rest := others(servers, p)
		lb.drain(p)
		if leader := e.waitLeader(failoverTimeout, "", servers...); leader == p {
			res, err := p.API.Operator().RaftLeaderTransfer("", nil)
			if err != nil || !res.Success {
				t.Fatalf("transfer leadership away from %s: %+v %v", p.Name, res, err)
			}
			next := e.waitLeader(failoverTimeout, p.ServerAddr, servers...)
			t.Logf("leadership handed from %s to %s", p.Name, next.Name)
		}
		p.Stop()
		p.start()
		e.waitHTTP(p)
		e.waitLeader(catchUpTimeout, "", servers...)
		waitRejoined(e, p, rest)
		waitAllHealthy(e, servers)
		lb.undrain(p)
		t.Logf("%s restarted at %s", p.Name, time.Since(start).Round(time.Millisecond))
	}
	// Load on the restarted datacenter for a moment before stopping.
	e.waitFor(10*time.Second, "writes after the last restart", func() error {
		load.mu.Lock()
		defer load.mu.Unlock()
		if len(load.acked) == 0 {
			return errors.New("no write acknowledged")
		}
		return nil
	})
	stopLoad()

	load.mu.Lock()
	acked := load.acked
	t.Logf("%d requests, %d acknowledged writes, %d retried no-leader answers, in %s",
		load.requests, len(acked), load.noLeader, time.Since(start).Round(time.Millisecond))
	if len(load.failures) > 0 {
		t.Errorf("%d requests failed, e.g.:\n%s", len(load.failures), strings.Join(load.failures[:min(10, len(load.failures))], "\n"))
	}
	load.mu.Unlock()
	checkAcked(t, servers, acked)
	if took := time.Since(start); took > rollingBound {
		t.Errorf("the rolling restart took %s, more than %s", took, rollingBound)
	}
}

// waitRejoined waits until p, restarted, has caught up: a marker written
// through another server after p came back is in p's own store, and the
// leader's autopilot has since asked p for its stats (its LastIndex has
// passed the marker) and judged it healthy.
func waitRejoined(e *env, p *agentProc, rest []*agentProc) {
	e.t.Helper()
	key := "roll/marker/" + p.Name
	var idx uint64
	e.waitFor(catchUpTimeout, "marker written", func() error {
		if err := putKV(rest[0], key, "back"); err != nil {
			return err
		}
		pair, _, err := rest[0].API.KV().Get(key, nil)
		if err != nil || pair == nil {
			return fmt.Errorf("read marker: %v %v", pair, err)
		}
		idx = pair.ModifyIndex
		return nil
	})
	e.waitFor(catchUpTimeout, p.Name+" caught up and healthy", func() error {
		if v, ok, err := getKV(p, key, &api.QueryOptions{AllowStale: true}); err != nil || !ok || v != "back" {
			return fmt.Errorf("stale read of the marker on %s: %q %v %v", p.Name, v, ok, err)
		}
		h, err := rest[0].API.Operator().AutopilotServerHealth(nil)
		if err != nil {
			return err
		}
		for _, s := range h.Servers {
			if s.Name == p.Name {
				if !s.Healthy || s.LastIndex < idx {
					return fmt.Errorf("autopilot: %s healthy %v, last index %d, marker at %d", p.Name, s.Healthy, s.LastIndex, idx)
				}
				return nil
			}
		}
		return fmt.Errorf("autopilot does not list %s", p.Name)
	})
}

// waitAllHealthy waits until autopilot, asked through each of ps, reports
// three healthy servers.
func waitAllHealthy(e *env, ps []*agentProc) {
	e.t.Helper()
	e.waitFor(catchUpTimeout, "autopilot: every server healthy", func() error {
		for _, p := range ps {
			h, err := p.API.Operator().AutopilotServerHealth(nil)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			if !h.Healthy || len(h.Servers) != 3 {
				return fmt.Errorf("through %s: healthy %v, %d servers", p.Name, h.Healthy, len(h.Servers))
			}
		}
		return nil
	})
}

func rollingWriter(ctx context.Context, lb *balancer, load *rollingLoad, w int) {
	for seq := 0; ctx.Err() == nil; seq++ {
		key, value := fmt.Sprintf("roll/w%d/%06d", w, seq), fmt.Sprintf("v%d-%d", w, seq)
		for ctx.Err() == nil {
			err := lb.do(func(p *agentProc) error { return putKV(p, key, value) })
			load.mu.Lock()
			load.requests++
			switch {
			case err == nil:
				load.acked[key] = value
			case isNoLeader(err):
				load.noLeader++
			}
			load.mu.Unlock()
			if err == nil {
				break
			}
			if !isNoLeader(err) {
				load.fail("write %s: %v", key, err)
				break
			}
			pause(ctx, 20*time.Millisecond) // retry pacing after "No cluster leader"
		}
	}
}

// rollingReader reads acknowledged keys and checks their values.
func rollingReader(ctx context.Context, lb *balancer, load *rollingLoad, r int) {
	rng := rand.New(rand.NewPCG(uint64(r), 7))
	for ctx.Err() == nil {
		load.mu.Lock()
		var key, want string
		if n := len(load.acked); n > 0 {
			skip := rng.IntN(n)
			for k, v := range load.acked {
				if skip == 0 {
					key, want = k, v
					break
				}
				skip--
			}
		}
		load.mu.Unlock()
		if key == "" {
			pause(ctx, 10*time.Millisecond) // nothing written yet
			continue
		}
		var got string
		var ok bool
		err := lb.do(func(p *agentProc) (err error) {
			got, ok, err = getKV(p, key, &api.QueryOptions{})
			return err
		})
		load.mu.Lock()
		load.requests++
		if isNoLeader(err) {
			load.noLeader++
		}
		load.mu.Unlock()
		switch {
		case isNoLeader(err):
			pause(ctx, 20*time.Millisecond) // retry pacing after "No cluster leader"
		case err != nil:
			load.fail("read %s: %v", key, err)
		case !ok || got != want:
			load.fail("read %s = %q (found %v), want the acknowledged %q", key, got, ok, want)
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

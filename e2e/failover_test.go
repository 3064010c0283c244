package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// background runs fn in a goroutine owned by the test: its context is
// canceled and the goroutine waited for when the test ends, and wait
// returns once fn has returned.
func background(t *testing.T, fn func(ctx context.Context)) (wait func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(ctx)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return wg.Wait
}

// putUntilAcked writes key=value through ps in turn until one write is
// acknowledged or ctx ends; a set of the same value is idempotent, so
// retrying is safe. It returns the last error when none was acknowledged.
func putUntilAcked(ctx context.Context, ps []*agentProc, key, value string) error {
	var err error
	for i := 0; ; i++ {
		if err = putKV(ps[i%len(ps)], key, value); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", key, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond): // retry pacing
		}
	}
}

func TestKillLeaderKeepsAcknowledgedWrites(t *testing.T) {
	e := newEnv(t)
	servers := e.startServers(3)
	leader := e.waitLeader(startTimeout, "", servers...)

	acked := map[string]string{}
	var failed []string
	for i := range 200 {
		key, value := fmt.Sprintf("kill-leader/k%03d", i), fmt.Sprintf("v%03d/%s", i, strings.Repeat("x", i%23))
		if err := putKV(servers[i%3], key, value); err != nil {
			failed = append(failed, fmt.Sprintf("%s via %s: %v", key, servers[i%3].Name, err))
			continue
		}
		acked[key] = value
	}
	if len(failed) > 0 {
		t.Errorf("a healthy cluster refused %d of 200 writes, e.g. %s", len(failed), failed[0])
	}

	// Crash the leader; writing goes on through the survivors at once.
	survivors := others(servers, leader)
	killedAt := time.Now()
	leader.Kill()
	const moreFrom, moreTo = 200, 250
	moreAcked := map[string]string{}
	var moreErr error
	waitWriter := background(t, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for i := moreFrom; i < moreTo; i++ {
			key, value := fmt.Sprintf("kill-leader/k%03d", i), fmt.Sprintf("after-kill-%03d", i)
			if moreErr = putUntilAcked(ctx, survivors, key, value); moreErr != nil {
				return
			}
			moreAcked[key] = value
		}
	})

	newLeader := e.waitLeader(failoverTimeout, leader.ServerAddr, survivors...)
	if took := time.Since(killedAt); took >= failoverBound {
		t.Errorf("survivors agreed on a new leader %s after %s, want < %s", newLeader.Name, took, failoverBound)
	} else {
		t.Logf("new leader %s %s after SIGKILL of %s", newLeader.Name, took.Round(time.Millisecond), leader.Name)
	}
	checkAcked(t, survivors, acked)

	waitWriter()
	if moreErr != nil {
		t.Fatalf("writes after the crash: %v", moreErr)
	}
	for k, v := range moreAcked {
		acked[k] = v
	}
	lastKey := fmt.Sprintf("kill-leader/k%03d", moreTo-1)

	// The crashed server comes back on its data dir and catches up.
	leader.Restart()
	e.waitHTTP(leader)
	e.waitCaughtUp(leader, servers, lastKey, acked[lastKey])

	// A full graceful restart keeps everything.
	for _, s := range servers {
		s.Stop()
	}
	for _, s := range servers {
		s.start()
	}
	e.waitHTTP(servers...)
	e.waitLeader(startTimeout, "", servers...)
	checkAcked(t, servers, acked)
}

// kvLedger records one writer's writes: per key, the sequence number of
// the last acknowledged write and of the last one attempted.
type kvLedger struct {
	acked map[string]int
	tried map[string]int
}

func TestKillAllServersLosesNothing(t *testing.T) {
	e := newEnv(t)
	servers := e.startServers(3)
	e.waitLeader(startTimeout, "", servers...)

	const writers, keysPerWriter = 8, 5
	ledgers := make([]*kvLedger, writers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		l := &kvLedger{acked: map[string]int{}, tried: map[string]int{}}
		ledgers[w] = l
		through := servers[w%len(servers)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("kill-all/w%d/k%d", w, seq%keysPerWriter)
				l.tried[key] = seq
				if putKV(through, key, fmt.Sprint(seq)) == nil {
					l.acked[key] = seq
				}
			}
		}()
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopWriters)

	// Let the writers run for about two seconds, then crash every server
	// under them.
	<-time.After(2 * time.Second)
	killAll(servers...)
	stopWriters()

	total := 0
	for _, l := range ledgers {
		total += len(l.acked)
	}
	if total < writers {
		t.Fatalf("only %d keys acknowledged in 2 s by %d writers; the cluster did not take writes", total, writers)
	}

	for _, s := range servers {
		s.start()
	}
	e.waitHTTP(servers...)
	e.waitLeader(startTimeout, "", servers...)

	// Every acknowledged write survived: the stored value is the last
	// acknowledged one or a later attempt that landed unacknowledged.
	var problems []string
	acks := 0
	for w, l := range ledgers {
		for key, ackedSeq := range l.acked {
			acks++
			p := servers[w%len(servers)]
			got, ok, err := readConsistent(p, key)
			if err != nil {
				t.Fatalf("consistent read of %s through %s: %v", key, p.Name, err)
			}
			var seq int
			if ok {
				fmt.Sscan(got, &seq)
			}
			if !ok || seq < ackedSeq || seq > l.tried[key] {
				problems = append(problems, fmt.Sprintf("%s = %q (found %v), want a write in %d..%d", key, got, ok, ackedSeq, l.tried[key]))
			}
		}
	}
	t.Logf("%d keys with acknowledged writes checked", acks)
	if len(problems) > 0 {
		t.Errorf("acknowledged writes lost after kill -9 of every server:\n%s", strings.Join(problems, "\n"))
	}
}

func TestPausedLeaderIsReplaced(t *testing.T) {
	e := newEnv(t)
	servers := e.startServers(3)
	leader := e.waitLeader(startTimeout, "", servers...)
	survivors := others(servers, leader)

	pausedAt := time.Now()
	leader.Pause()
	newLeader := e.waitLeader(failoverTimeout, leader.ServerAddr, survivors...)
	if took := time.Since(pausedAt); took >= failoverBound {
		t.Errorf("survivors agreed on a new leader %s after %s, want < %s", newLeader.Name, took, failoverBound)
	} else {
		t.Logf("new leader %s %s after SIGSTOP of %s", newLeader.Name, took.Round(time.Millisecond), leader.Name)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	const key, value = "paused/during", "written while the old leader was stopped"
	if err := putUntilAcked(ctx, survivors, key, value); err != nil {
		t.Fatalf("the survivors took no write: %v", err)
	}
	checkAcked(t, survivors, map[string]string{key: value})

	leader.Resume()
	e.waitFor(catchUpTimeout, leader.Name+" follows again", func() error {
		if _, err := e.agreedLeader("", servers...); err != nil {
			return err
		}
		got, ok, err := getKV(leader, key, &api.QueryOptions{AllowStale: true})
		switch {
		case err != nil:
			return fmt.Errorf("stale read from %s: %w", leader.Name, err)
		case !ok || got != value:
			return fmt.Errorf("stale read from %s = %q (found %v), want %q", leader.Name, got, ok, value)
		}
		return nil
	})
	// It takes writes again, through whichever server leads now.
	if err := putUntilAcked(ctx, []*agentProc{leader}, "paused/after", "x"); err != nil {
		t.Fatalf("write through the resumed server: %v", err)
	}
	checkAcked(t, servers, map[string]string{key: value, "paused/after": "x"})
}

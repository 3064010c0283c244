package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Bounds of the waits the tests share.
const (
	startTimeout    = 30 * time.Second // processes up and a first leader elected
	failoverBound   = 5 * time.Second  // a lost leader replaced (the assertion)
	failoverTimeout = 15 * time.Second // how long to wait before giving up on it
	catchUpTimeout  = 30 * time.Second // a restarted server back in step
	pollInterval    = 20 * time.Millisecond
)

// env is the set of agent processes of one test.
type env struct {
	t     *testing.T
	procs []*agentProc
	taken map[int]bool // ports handed out in this test
}

func newEnv(t *testing.T) *env {
	return &env{t: t, taken: map[int]bool{}}
}

func (e *env) newPorts() agentPorts {
	p := freePorts(e.t, 5, e.taken)
	return agentPorts{HTTP: p[0], Server: p[1], SerfLAN: p[2], SerfWAN: p[3], DNS: p[4]}
}

// add registers a process (killed when the test ends) without starting it.
func (e *env) add(name string, ports agentPorts, args ...string) *agentProc {
	e.t.Helper()
	p := newAgentProc(e.t, name, ports, args)
	e.t.Cleanup(p.cleanup)
	e.procs = append(e.procs, p)
	return p
}

// startAgent starts one agent with args plus its own free ports and waits
// until its HTTP API answers.
func (e *env) startAgent(name string, args ...string) *agentProc {
	e.t.Helper()
	p := e.add(name, e.newPorts(), args...)
	p.start()
	e.waitHTTP(p)
	return p
}

// startServers starts n servers of dc1 that expect each other (every one
// retry-joins the others) and waits until their HTTP APIs answer; it does
// not wait for a leader.
func (e *env) startServers(n int) []*agentProc {
	e.t.Helper()
	return e.startDC("dc1", "s", n)
}

// startDC starts n servers of datacenter dc named prefix1..prefixN, as
// startServers does; extra flags (-retry-join-wan) are added to each.
func (e *env) startDC(dc, prefix string, n int, extra ...string) []*agentProc {
	e.t.Helper()
	ports := make([]agentPorts, n)
	for i := range ports {
		ports[i] = e.newPorts()
	}
	servers := make([]*agentProc, n)
	for i := range servers {
		name := fmt.Sprintf("%s%d", prefix, i+1)
		args := []string{
			"-server", "-node", name, "-datacenter", dc, "-data-dir", e.t.TempDir(),
			"-bind", "127.0.0.1", "-client", "127.0.0.1",
			"-retry-interval", "100ms", "-log-level", "debug",
		}
		if n == 1 {
			args = append(args, "-bootstrap")
		} else {
			args = append(args, "-bootstrap-expect", strconv.Itoa(n))
		}
		for j, other := range ports {
			if j != i {
				args = append(args, "-retry-join", addr(other.SerfLAN))
			}
		}
		args = append(args, extra...)
		servers[i] = e.add(name, ports[i], args...)
	}
	for _, s := range servers {
		s.start()
	}
	e.waitHTTP(servers...)
	return servers
}

// waitFor polls cond until it returns nil and fails the test with its last
// error after timeout. It fails at once when an agent process exits without
// the test asking it to.
func (e *env) waitFor(timeout time.Duration, what string, cond func() error) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, p := range e.procs {
			if msg := p.unexpectedExit(); msg != "" {
				e.t.Fatalf("while waiting for %s: %s", what, msg)
			}
		}
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		<-tick.C
	}
}

// waitHTTP waits until every process answers HTTP requests.
func (e *env) waitHTTP(ps ...*agentProc) {
	e.t.Helper()
	e.waitFor(startTimeout, "HTTP API up", func() error {
		for _, p := range ps {
			if _, err := p.API.Status().Leader(); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		return nil
	})
}

// agreedLeader is the leader every one of ps names in /v1/status/leader,
// which must be one of ps and not the address notAddr.
func (e *env) agreedLeader(notAddr string, ps ...*agentProc) (*agentProc, error) {
	var leaderAddr string
	for _, p := range ps {
		got, err := p.API.Status().Leader()
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		case got == "":
			return nil, fmt.Errorf("%s knows no leader", p.Name)
		case got == notAddr:
			return nil, fmt.Errorf("%s still names the old leader %s", p.Name, got)
		case leaderAddr != "" && got != leaderAddr:
			return nil, fmt.Errorf("%s names leader %s, others %s", p.Name, got, leaderAddr)
		}
		leaderAddr = got
	}
	for _, p := range ps {
		if p.ServerAddr == leaderAddr {
			return p, nil
		}
	}
	return nil, fmt.Errorf("the leader %s is none of %s", leaderAddr, names(ps))
}

// waitLeader waits until all of ps agree on a leader among them other than
// notAddr ("" for any), and returns it.
func (e *env) waitLeader(timeout time.Duration, notAddr string, ps ...*agentProc) *agentProc {
	e.t.Helper()
	var leader *agentProc
	e.waitFor(timeout, "a leader all of "+names(ps)+" agree on", func() (err error) {
		leader, err = e.agreedLeader(notAddr, ps...)
		return err
	})
	return leader
}

// waitCaughtUp waits until p, restarted, serves key=want from its own
// store (?stale) and the Raft configuration it reports lists exactly the
// voters servers.
func (e *env) waitCaughtUp(p *agentProc, servers []*agentProc, key, want string) {
	e.t.Helper()
	wantVoters := make([]string, len(servers))
	for i, s := range servers {
		wantVoters[i] = s.ServerAddr
	}
	slices.Sort(wantVoters)
	e.waitFor(catchUpTimeout, p.Name+" caught up", func() error {
		got, ok, err := getKV(p, key, &api.QueryOptions{AllowStale: true})
		switch {
		case err != nil:
			return fmt.Errorf("stale read of %s: %w", key, err)
		case !ok:
			return fmt.Errorf("stale read of %s: not found", key)
		case got != want:
			return fmt.Errorf("stale read of %s = %q, want %q", key, got, want)
		}
		conf, err := p.API.Operator().RaftGetConfiguration(nil)
		if err != nil {
			return fmt.Errorf("raft configuration: %w", err)
		}
		var voters []string
		for _, s := range conf.Servers {
			if s.Voter {
				voters = append(voters, s.Address)
			}
		}
		slices.Sort(voters)
		if !slices.Equal(voters, wantVoters) {
			return fmt.Errorf("raft voters %v, want %v", voters, wantVoters)
		}
		return nil
	})
}

// others is ps without x.
func others(ps []*agentProc, x *agentProc) []*agentProc {
	var out []*agentProc
	for _, p := range ps {
		if p != x {
			out = append(out, p)
		}
	}
	return out
}

func names(ps []*agentProc) string {
	n := make([]string, len(ps))
	for i, p := range ps {
		n[i] = p.Name
	}
	return strings.Join(n, ",")
}

// putKV writes key=value through p; nil means the write was acknowledged.
func putKV(p *agentProc, key, value string) error {
	_, err := p.API.KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, nil)
	return err
}

// getKV reads key through p with the options q; ok is false for a missing
// key.
func getKV(p *agentProc, key string, q *api.QueryOptions) (value string, ok bool, err error) {
	pair, _, err := p.API.KV().Get(key, q)
	if err != nil || pair == nil {
		return "", false, err
	}
	return string(pair.Value), true, nil
}

// readConsistent reads key with ?consistent through p, retrying transport
// and leadership errors (not answers) for a bounded time.
func readConsistent(p *agentProc, key string) (string, bool, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok, err := getKV(p, key, &api.QueryOptions{RequireConsistent: true})
		if err == nil || time.Now().After(deadline) {
			return v, ok, err
		}
		time.Sleep(pollInterval) // pacing of a bounded retry, not synchronisation
	}
}

// checkAcked reads every key of want with ?consistent, spread over ps, and
// reports every key that is missing or has another value.
func checkAcked(t *testing.T, ps []*agentProc, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var problems []string
	for i, k := range keys {
		p := ps[i%len(ps)]
		got, ok, err := readConsistent(p, k)
		switch {
		case err != nil:
			t.Fatalf("consistent read of %s through %s: %v", k, p.Name, err)
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: missing (want %q)", k, want[k]))
		case got != want[k]:
			problems = append(problems, fmt.Sprintf("%s = %q, want %q", k, got, want[k]))
		}
	}
	if len(problems) > 0 {
		t.Errorf("%d of %d acknowledged writes lost or wrong, e.g.:\n%s",
			len(problems), len(keys), strings.Join(problems[:min(len(problems), 10)], "\n"))
	}
}

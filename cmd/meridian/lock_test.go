package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// syncBuffer is a strings.Builder safe for the concurrent writes of a
// command and its children.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bgCommand is a command running in the background with a context the
// test cancels to stand for SIGINT.
type bgCommand struct {
	done           chan int
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
}

func startCommand(t *testing.T, addr string, fn func(e *cmdEnv) int) *bgCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bgCommand{done: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel}
	e := &cmdEnv{
		ctx: ctx, stdin: strings.NewReader(""), stdout: b.stdout, stderr: b.stderr,
		getenv: func(k string) string {
			if k == "MERIDIAN_HTTP_ADDR" {
				return addr
			}
			return ""
		},
	}
	go func() { b.done <- fn(e) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(30 * time.Second):
			t.Errorf("command still running at the end of the test")
		}
	})
	return b
}

func startLock(t *testing.T, addr string, tm lockTiming, args ...string) *bgCommand {
	t.Helper()
	return startCommand(t, addr, func(e *cmdEnv) int { return e.runLockWith(args, tm) })
}

// wait returns the exit code, failing the test if the command does not
// end within 30s.
func (b *bgCommand) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-b.done:
		b.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("command did not exit; stderr: %s", b.stderr.String())
		return -1
	}
}

func (b *bgCommand) running() bool {
	select {
	case code := <-b.done:
		b.done <- code
		return false
	default:
		return true
	}
}

// testTiming is the lock timing of the tests: the production periods,
// except the pauses that would only slow the tests down.
func testTiming() lockTiming {
	tm := defaultLockTiming()
	tm.monitorPause = 10 * time.Millisecond
	return tm
}

// child scripts ------------------------------------------------------------

// waitingChild records its start (and the lock variables) in dir/log,
// waits for dir/go, records its end and exits with code. On SIGTERM it
// records "term NAME" and exits 143.
func waitingChild(dir, name string, code int) string {
	return fmt.Sprintf(`trap 'echo "term %[2]s" >> "%[1]s/log"; exit 143' TERM; `+
		`echo "start %[2]s $CONSUL_LOCK_HELD $MERIDIAN_LOCK_HELD" >> "%[1]s/log"; touch "%[1]s/started.%[2]s"; `+
		`while [ ! -e "%[1]s/go" ]; do sleep 0.01; done; echo "end %[2]s" >> "%[1]s/log"; exit %[3]d`, dir, name, code)
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	testcluster.WaitFor(t, 30*time.Second, func() error {
		_, err := os.Stat(path)
		return err
	})
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func logLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// the agent over plain HTTP ----------------------------------------------

type httpAgent struct {
	t    *testing.T
	addr string
}

func (a httpAgent) do(method, path string, q url.Values, body string) (int, http.Header, []byte) {
	a.t.Helper()
	u := url.URL{Scheme: "http", Host: a.addr, Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// get returns the entry at key, or nil.
func (a httpAgent) get(key string) *consulapi.KVPair {
	a.t.Helper()
	code, _, body := a.do("GET", "/v1/kv/"+key, nil, "")
	if code == http.StatusNotFound {
		return nil
	}
	var pairs []consulapi.KVPair
	if code != 200 || json.Unmarshal(body, &pairs) != nil || len(pairs) != 1 {
		a.t.Fatalf("GET %s: %d %s", key, code, body)
	}
	return &pairs[0]
}

func (a httpAgent) list(prefix string) []consulapi.KVPair {
	a.t.Helper()
	code, _, body := a.do("GET", "/v1/kv/"+prefix, url.Values{"recurse": {""}}, "")
	var pairs []consulapi.KVPair
	if code == 200 {
		_ = json.Unmarshal(body, &pairs)
	}
	return pairs
}

func (a httpAgent) put(key, value string, q url.Values) {
	a.t.Helper()
	if code, _, body := a.do("PUT", "/v1/kv/"+key, q, value); code != 200 || string(body) != "true" {
		a.t.Fatalf("PUT %s: %d %s", key, code, body)
	}
}

func (a httpAgent) sessionExists(id string) bool {
	a.t.Helper()
	_, _, body := a.do("GET", "/v1/session/info/"+id, nil, "")
	var entries []map[string]any
	_ = json.Unmarshal(body, &entries)
	return len(entries) > 0
}

func (a httpAgent) session(id string) map[string]any {
	a.t.Helper()
	_, _, body := a.do("GET", "/v1/session/info/"+id, nil, "")
	var entries []map[string]any
	if json.Unmarshal(body, &entries) != nil || len(entries) != 1 {
		a.t.Fatalf("session %s: %s", id, body)
	}
	return entries[0]
}

// waitHeld waits until key is locked by a session and returns it.
func (a httpAgent) waitHeld(key string) consulapi.KVPair {
	a.t.Helper()
	var p *consulapi.KVPair
	testcluster.WaitFor(a.t, 30*time.Second, func() error {
		if p = a.get(key); p == nil || p.Session == "" {
			return fmt.Errorf("%s not held: %+v", key, p)
		}
		return nil
	})
	return *p
}

// faultProxy stands between a command and the agent: it counts session
// renewals and can fail the next consistent reads with 500.
type faultProxy struct {
	url        string
	renewals   atomic.Int64
	failReads  atomic.Int64 // consistent reads still to fail
	failedRead atomic.Int64
	okReads    atomic.Int64 // consistent reads passed through after a failure
}

func newFaultProxy(t *testing.T, addr string) *faultProxy {
	t.Helper()
	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // canceled blocking reads are expected
	p := &faultProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/session/renew/") {
			p.renewals.Add(1)
		}
		if _, ok := r.URL.Query()["consistent"]; ok {
			if p.failReads.Add(-1) >= 0 {
				p.failedRead.Add(1)
				http.Error(w, "No cluster leader", http.StatusInternalServerError)
				return
			}
			p.failReads.Store(0)
			if p.failedRead.Load() > 0 {
				p.okReads.Add(1)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// tests --------------------------------------------------------------------

func TestLockUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lock"}, "Key prefix and child command must be specified"},
		{[]string{"lock", "svc"}, "Key prefix and child command must be specified"},
		{[]string{"lock", "-n=0", "svc", "true"}, "Lock holder limit must be positive"},
		{[]string{"lock", "-timeout=-1s", "svc", "true"}, "Timeout must be positive"},
		{[]string{"lock", "-monitor-retry=-1", "svc", "true"}, "Number for 'monitor-retry' must be >= 0"},
		{[]string{"lock", "/", "true"}, "Key prefix must not be empty"},
		{[]string{"lock", "-timeout=x", "svc", "true"}, `invalid value "x" for flag -timeout`},
	}
	agent := newFakeAgent(t, fakeAlways(fakeReply{}))
	for _, tc := range cases {
		assertOneLineError(t, runCLI(t, agent, nil, "", tc.args...), exitUsage, tc.want)
	}
	if n := len(agent.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
	if res := runCLI(t, agent, nil, "", "lock", "-h"); res.code != 0 || !strings.HasPrefix(res.stdout, "Usage: meridian lock") {
		t.Errorf("help: %d %q", res.code, res.stdout)
	}
}

func TestChildCommand(t *testing.T) {
	env := func(k string) string { return map[string]string{"SHELL": "/bin/bash"}[k] }
	noEnv := func(string) string { return "" }
	cases := []struct {
		args  []string
		shell bool
		env   func(string) string
		want  []string
	}{
		{[]string{"./run.sh"}, true, env, []string{"./run.sh"}},
		{[]string{"echo", "a b"}, true, env, []string{"echo", "a b"}},
		{[]string{"echo a > f"}, true, env, []string{"/bin/bash", "-c", "echo a > f"}},
		{[]string{"cat>f"}, true, noEnv, []string{"/bin/sh", "-c", "cat>f"}},
		{[]string{"echo a"}, false, env, []string{"echo a"}},
	}
	for _, tc := range cases {
		if got := childCommand(tc.args, tc.shell, tc.env); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("childCommand(%q, %v) = %q, want %q", tc.args, tc.shell, got, tc.want)
		}
	}
}

func TestLockAgainstCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	addr := c.Nodes[0].HTTPAddr
	api := httpAgent{t: t, addr: addr}

	t.Run("holds the lock while the child runs, then releases it", func(t *testing.T) {
		api := httpAgent{t: t, addr: addr}
		dir := t.TempDir()
		cmd := startLock(t, addr, testTiming(), "held", waitingChild(dir, "a", 7))
		waitFile(t, filepath.Join(dir, "started.a"))
		pair := api.waitHeld("held/.lock")
		if pair.Flags != consulapi.LockFlagValue {
			t.Errorf("lock flags = %#x, want %#x", pair.Flags, uint64(consulapi.LockFlagValue))
		}
		sess := api.session(pair.Session)
		if sess["TTL"] != "15s" || sess["Behavior"] != "release" || !strings.HasPrefix(sess["Name"].(string), "Meridian lock for 'trap ") ||
			fmt.Sprint(sess["NodeChecks"]) != "[serfHealth]" {
			t.Errorf("session = %v", sess)
		}
		touch(t, filepath.Join(dir, "go"))
		if code := cmd.wait(t); code != exitOK {
			t.Errorf("exit code = %d, want 0 without -child-exit-code (stderr %q)", code, cmd.stderr)
		}
		if got, want := logLines(t, dir), []string{"start_a_true_true", "end_a"}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("child log = %q, want %q", got, want)
		}
		if p := api.get("held/.lock"); p != nil {
			t.Errorf("lock key left behind: %+v", p)
		}
		if api.sessionExists(pair.Session) {
			t.Error("session not destroyed")
		}
	})

	t.Run("child exit code", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want int
		}{{[]string{"-child-exit-code", "code", "exit 7"}, 7}, {[]string{"code", "exit 7"}, 0}, {[]string{"-child-exit-code", "-shell=false", "code", "true"}, 0}} {
			if code := startLock(t, addr, testTiming(), tc.args...).wait(t); code != tc.want {
				t.Errorf("%q: exit code %d, want %d", tc.args, code, tc.want)
			}
		}
	})

	t.Run("one holder at a time; -timeout gives up", func(t *testing.T) {
		dir := t.TempDir()
		first := startLock(t, addr, testTiming(), "excl", waitingChild(dir, "a", 0))
		waitFile(t, filepath.Join(dir, "started.a"))
		held := api.waitHeld("excl/.lock")

		start := time.Now()
		timedOut := startLock(t, addr, testTiming(), "-timeout=300ms", "excl", waitingChild(dir, "x", 0))
		if code := timedOut.wait(t); code != exitError || !strings.Contains(timedOut.stderr.String(), "Timeout after 300ms waiting for the lock") {
			t.Errorf("timed-out lock: code %d, stderr %q", code, timedOut.stderr)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("gave up after %v, before its timeout", d)
		}
		second := startLock(t, addr, testTiming(), "excl", waitingChild(dir, "b", 0))
		// The second contender waits in a blocking read; the lock does not move.
		if p := api.get("excl/.lock"); p == nil || p.Session != held.Session || !second.running() {
			t.Errorf("lock changed hands while held: %+v", p)
		}
		touch(t, filepath.Join(dir, "go"))
		for _, cmd := range []*bgCommand{first, second} {
			if code := cmd.wait(t); code != 0 {
				t.Errorf("exit code %d, stderr %q", code, cmd.stderr)
			}
		}
		got := strings.Join(logLines(t, dir), " ")
		if got != "start_a_true_true end_a start_b_true_true end_b" {
			t.Errorf("child log = %q: the holders overlapped or x ran", got)
		}
	})

	t.Run("losing the lock terminates the child", func(t *testing.T) {
		dir := t.TempDir()
		cmd := startLock(t, addr, testTiming(), "lost", waitingChild(dir, "a", 0))
		waitFile(t, filepath.Join(dir, "started.a"))
		pair := api.waitHeld("lost/.lock")
		api.do("PUT", "/v1/session/destroy/"+pair.Session, nil, "")
		if code := cmd.wait(t); code != exitError {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(cmd.stderr.String(), "Lock lost, killing child") {
			t.Errorf("stderr = %q", cmd.stderr)
		}
		if got := strings.Join(logLines(t, dir), " "); got != "start_a_true_true term_a" {
			t.Errorf("child log = %q, want the child terminated", got)
		}
	})

	t.Run("a child that ignores SIGTERM is killed after the grace period", func(t *testing.T) {
		dir := t.TempDir()
		tm := testTiming()
		tm.killGrace = 300 * time.Millisecond
		script := fmt.Sprintf(`trap '' TERM; touch "%s/started"; while :; do sleep 0.01; done`, dir)
		cmd := startLock(t, addr, tm, "-child-exit-code", "stubborn", script)
		waitFile(t, filepath.Join(dir, "started"))
		api.waitHeld("stubborn/.lock")
		start := time.Now()
		cmd.cancel() // as SIGINT would
		if code := cmd.wait(t); code != 128+int(syscall.SIGKILL) {
			t.Errorf("exit code %d, want %d (killed); stderr %q", code, 128+int(syscall.SIGKILL), cmd.stderr)
		}
		if d := time.Since(start); d < tm.killGrace {
			t.Errorf("killed after %v, before the grace period", d)
		}
		if p := api.get("stubborn/.lock"); p != nil {
			t.Errorf("lock not released and cleaned up: %+v", p)
		}
	})

	t.Run("shutdown stops the child and releases", func(t *testing.T) {
		dir := t.TempDir()
		cmd := startLock(t, addr, testTiming(), "-verbose", "stop", waitingChild(dir, "a", 0))
		waitFile(t, filepath.Join(dir, "started.a"))
		pair := api.waitHeld("stop/.lock")
		cmd.cancel()
		if code := cmd.wait(t); code != exitOK {
			t.Errorf("exit code %d", code)
		}
		if got := strings.Join(logLines(t, dir), " "); got != "start_a_true_true term_a" {
			t.Errorf("child log = %q", got)
		}
		if api.get("stop/.lock") != nil || api.sessionExists(pair.Session) {
			t.Error("lock or session left behind")
		}
		for _, step := range []string{"Setting up lock at path: stop/.lock", "Shutdown triggered, killing child", "Cleanup succeeded"} {
			if !strings.Contains(cmd.stderr.String(), step) {
				t.Errorf("verbose output lacks %q: %s", step, cmd.stderr)
			}
		}
	})

	t.Run("monitor rides out failed reads up to -monitor-retry", func(t *testing.T) {
		for _, tc := range []struct {
			retry   string
			fail    int64
			survive bool
		}{{"3", 2, true}, {"0", 1, false}} {
			proxy := newFaultProxy(t, addr)
			dir := t.TempDir()
			tm := testTiming()
			tm.wait = 100 * time.Millisecond // the monitor re-reads often
			prefix := "retry" + tc.retry
			cmd := startLock(t, proxy.url, tm, "-monitor-retry="+tc.retry, prefix, waitingChild(dir, "a", 0))
			waitFile(t, filepath.Join(dir, "started.a"))
			api.waitHeld(prefix + "/.lock")
			proxy.failReads.Store(tc.fail)
			if tc.survive {
				testcluster.WaitFor(t, 30*time.Second, func() error {
					if proxy.failedRead.Load() != tc.fail || proxy.okReads.Load() < 2 {
						return fmt.Errorf("%d failed and %d good reads so far", proxy.failedRead.Load(), proxy.okReads.Load())
					}
					return nil
				})
				if !cmd.running() || strings.Contains(cmd.stderr.String(), "Lock lost") {
					t.Errorf("retry %s: lock lost after %d failed reads: %s", tc.retry, tc.fail, cmd.stderr)
				}
				touch(t, filepath.Join(dir, "go"))
				if code := cmd.wait(t); code != 0 {
					t.Errorf("exit code %d", code)
				}
				continue
			}
			if code := cmd.wait(t); code != exitError || !strings.Contains(cmd.stderr.String(), "Lock lost") {
				t.Errorf("retry %s: code %d, stderr %q; want the lock lost on the first failed read", tc.retry, code, cmd.stderr)
			}
		}
	})

	t.Run("session is renewed while the child runs", func(t *testing.T) {
		proxy := newFaultProxy(t, addr)
		dir := t.TempDir()
		tm := testTiming()
		tm.renewEvery = 20 * time.Millisecond
		cmd := startLock(t, proxy.url, tm, "renew", waitingChild(dir, "a", 0))
		waitFile(t, filepath.Join(dir, "started.a"))
		testcluster.WaitFor(t, 30*time.Second, func() error {
			if n := proxy.renewals.Load(); n < 3 {
				return fmt.Errorf("%d renewals", n)
			}
			return nil
		})
		touch(t, filepath.Join(dir, "go"))
		if code := cmd.wait(t); code != 0 {
			t.Errorf("exit code %d, stderr %q", code, cmd.stderr)
		}
	})

	t.Run("lock and semaphore refuse each other's keys", func(t *testing.T) {
		api.put("plain/.lock", "x", nil) // flags 0: not a lock
		cmd := startLock(t, addr, testTiming(), "plain", "true")
		if code := cmd.wait(t); code != exitError || !strings.Contains(cmd.stderr.String(), "Lock acquisition failed: Existing key does not match lock use") {
			t.Errorf("code %d, stderr %q", code, cmd.stderr)
		}
		sem := startLock(t, addr, testTiming(), "-n=2", "plain", "true")
		if code := sem.wait(t); code != exitError || !strings.Contains(sem.stderr.String(), "Existing key does not match semaphore use") {
			t.Errorf("code %d, stderr %q", code, sem.stderr)
		}
		if p := api.get("plain/.lock"); p == nil || string(p.Value) != "x" || p.Session != "" {
			t.Errorf("foreign key changed: %+v", p)
		}
		if pairs := api.list("plain/"); len(pairs) != 1 {
			t.Errorf("contender keys left behind: %+v", pairs)
		}
	})

	t.Run("semaphore admits N holders", func(t *testing.T) {
		dir := t.TempDir()
		var cmds []*bgCommand
		for _, name := range []string{"a", "b", "c"} {
			cmds = append(cmds, startLock(t, addr, testTiming(), "-n=2", "-child-exit-code", "sem", waitingChild(dir, name, 0)))
		}
		// Two run; the third waits as a contender.
		testcluster.WaitFor(t, 30*time.Second, func() error {
			pairs := api.list("sem/")
			lock := api.get("sem/.lock")
			if len(pairs) != 4 || lock == nil {
				return fmt.Errorf("%d keys under sem/", len(pairs))
			}
			var l struct {
				Limit   int
				Holders map[string]bool
			}
			if err := json.Unmarshal(lock.Value, &l); err != nil || len(l.Holders) != 2 || l.Limit != 2 {
				return fmt.Errorf("lock = %s", lock.Value)
			}
			if n := len(logLines(t, dir)); n != 2 {
				return fmt.Errorf("%d children started", n)
			}
			return nil
		})
		if lock := api.get("sem/.lock"); lock.Flags != consulapi.SemaphoreFlagValue {
			t.Errorf("flags = %#x, want %#x", lock.Flags, uint64(consulapi.SemaphoreFlagValue))
		}
		// A contender that disagrees on the limit is refused.
		other := startLock(t, addr, testTiming(), "-n=3", "sem", "true")
		if code := other.wait(t); code != exitError || !strings.Contains(other.stderr.String(), "semaphore limit conflict (lock: 2, local: 3)") {
			t.Errorf("limit conflict: code %d, stderr %q", code, other.stderr)
		}
		touch(t, filepath.Join(dir, "go"))
		for _, cmd := range cmds {
			if code := cmd.wait(t); code != 0 {
				t.Errorf("exit code %d, stderr %q", code, cmd.stderr)
			}
		}
		running, most := 0, 0
		for _, l := range logLines(t, dir) {
			switch {
			case strings.HasPrefix(l, "start_"):
				running++
				if !strings.HasSuffix(l, "_true_true") {
					t.Errorf("child without the lock variables: %s", l)
				}
			case strings.HasPrefix(l, "end_"):
				running--
			}
			most = max(most, running)
		}
		if most != 2 || len(logLines(t, dir)) != 6 {
			t.Errorf("log %q: at most %d holders at once, want 2 (and 3 runs)", logLines(t, dir), most)
		}
		if pairs := api.list("sem/"); len(pairs) != 0 {
			t.Errorf("keys left under sem/: %+v", pairs)
		}
	})

	t.Run("SIGTERM to the process stops the child and releases", func(t *testing.T) {
		dir := t.TempDir()
		helper := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
		helper.Env = append(os.Environ(), "MERIDIAN_LOCK_HELPER=1", "MERIDIAN_HTTP_ADDR="+addr,
			"MERIDIAN_LOCK_ARGS="+mustJSON(t, []string{"sig", waitingChild(dir, "a", 0)}))
		var out syncBuffer
		helper.Stdout, helper.Stderr = &out, &out
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		waitFile(t, filepath.Join(dir, "started.a"))
		api.waitHeld("sig/.lock")
		_ = helper.Process.Signal(syscall.SIGTERM)
		if err := helper.Wait(); err != nil {
			t.Errorf("meridian lock after SIGTERM: %v; output %s", err, out.String())
		}
		if got := strings.Join(logLines(t, dir), " "); got != "start_a_true_true term_a" {
			t.Errorf("child log = %q", got)
		}
		if p := api.get("sig/.lock"); p != nil {
			t.Errorf("lock left behind: %+v", p)
		}
	})
}

// TestLockHelperProcess is `meridian lock` run as a process of its own by
// the SIGTERM test; it does nothing in a normal test run.
func TestLockHelperProcess(t *testing.T) {
	if os.Getenv("MERIDIAN_LOCK_HELPER") != "1" {
		t.Skip("helper process for TestLockAgainstCluster")
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv("MERIDIAN_LOCK_ARGS")), &args); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"lock"}, args...)
	os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

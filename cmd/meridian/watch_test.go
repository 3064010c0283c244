package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/testcluster"
)

func startWatch(t *testing.T, addr string, args ...string) *bgCommand {
	t.Helper()
	return startCommand(t, addr, func(e *cmdEnv) int {
		return e.dispatch("meridian", topLevelCommands(), append([]string{"watch"}, args...))
	})
}

func TestWatchUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"watch"}, "Watch type must be specified"},
		{[]string{"watch", "-type=nope"}, `invalid watch: unsupported watch type "nope"`},
		{[]string{"watch", "-type=key"}, `invalid watch: Must specify a single key to watch`},
		{[]string{"watch", "-type=key", "-key=k", "-service=web"}, `invalid watch: Invalid parameters: [service]`},
		{[]string{"watch", "-type=event", "-stale"}, `invalid watch: Invalid parameters: [stale]`},
		{[]string{"watch", "-type=checks", "-state=sad"}, `invalid state "sad"`},
		{[]string{"watch", "-type=key", "-key=k", "-http-addr=ftp://x:1"}, `unsupported scheme "ftp"`},
		{[]string{"watch", "-type=connect_roots"}, `unsupported watch type "connect_roots"`},
		{[]string{"watch", "-type=nodes", "-once", "./handler"}, "-once prints the result; it takes no HANDLER"},
	}
	agent := newFakeAgent(t, fakeAlways(fakeReply{body: "{}"}))
	for _, tc := range cases {
		assertOneLineError(t, runCLI(t, agent, nil, "", tc.args...), exitUsage, tc.want)
	}
	if n := len(agent.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
	if res := runCLI(t, agent, nil, "", "watch", "-h"); res.code != 0 || !strings.HasPrefix(res.stdout, "Usage: meridian watch") {
		t.Errorf("help: %d %q", res.code, res.stdout)
	}
}

func TestWatchUnreachableAgent(t *testing.T) {
	res := runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": "127.0.0.1:1"}, "", "watch", "-type=nodes")
	assertOneLineError(t, res, exitError, "Error querying agent:")
}

// eventAgent fakes /v1/agent/self and a blocking /v1/event/list with
// Consul's shapes (the index is the newest event's ID folded to 64 bits).
type eventAgent struct {
	url     string
	mu      sync.Mutex
	events  []string // IDs, oldest first
	changed chan struct{}
	queries []url.Values
}

func newEventAgent(t *testing.T, ids ...string) *eventAgent {
	a := &eventAgent{events: ids, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/agent/self" {
			fmt.Fprint(w, `{"Config":{"NodeName":"n1","Datacenter":"dc1"}}`)
			return
		}
		q := r.URL.Query()
		a.mu.Lock()
		a.queries = append(a.queries, q)
		for q.Get("index") != "" && q.Get("index") == a.indexLocked() {
			ch := a.changed
			a.mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
			a.mu.Lock()
		}
		var out []string
		for i, id := range a.events {
			out = append(out, fmt.Sprintf(`{"ID":%q,"Name":%q,"Payload":null,"NodeFilter":"","ServiceFilter":"","TagFilter":"","Version":1,"LTime":%d}`, id, q.Get("name"), i+1))
		}
		w.Header().Set("X-Consul-Index", a.indexLocked())
		a.mu.Unlock()
		fmt.Fprintf(w, "[%s]", strings.Join(out, ","))
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *eventAgent) indexLocked() string {
	if len(a.events) == 0 {
		return "1"
	}
	id := a.events[len(a.events)-1]
	lo, _ := strconv.ParseUint(id[0:8]+id[9:13]+id[14:18], 16, 64)
	hi, _ := strconv.ParseUint(id[19:23]+id[24:36], 16, 64)
	return strconv.FormatUint(lo^hi, 10)
}

func (a *eventAgent) fire(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, id)
	close(a.changed)
	a.changed = make(chan struct{})
}

// TestWatchEventsPrintsNewEvents: without a handler, each change is
// printed as indented JSON; an event watch prints only the new events.
func TestWatchEventsPrintsNewEvents(t *testing.T) {
	id1, id2 := "b54fe110-7af5-cafc-d1fb-afc8ba432b1c", "0c7a2f3e-1111-2222-3333-444455556666"
	agent := newEventAgent(t, id1)
	cmd := startWatch(t, agent.url, "-type=event", "-name=deploy")
	testcluster.WaitFor(t, 30*time.Second, func() error {
		if !strings.Contains(cmd.stdout.String(), id1) {
			return fmt.Errorf("stdout %q", cmd.stdout)
		}
		return nil
	})
	agent.fire(id2)
	testcluster.WaitFor(t, 30*time.Second, func() error {
		if !strings.Contains(cmd.stdout.String(), id2) {
			return fmt.Errorf("stdout %q", cmd.stdout)
		}
		return nil
	})
	cmd.cancel()
	if code := cmd.wait(t); code != exitOK {
		t.Errorf("exit code %d, stderr %q", code, cmd.stderr)
	}
	want := "[\n    {\n        \"ID\": \"" + id1 + "\",\n        \"Name\": \"deploy\",\n"
	out := cmd.stdout.String()
	if !strings.HasPrefix(out, want) || strings.Count(out, id1) != 1 || strings.Count(out, id2) != 1 {
		t.Errorf("stdout:\n%s\nwant each event printed once, indented, starting %q", out, want)
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if agent.queries[0].Get("name") != "deploy" {
		t.Errorf("query = %v", agent.queries[0])
	}
}

func TestWatchAgainstCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	addr := c.Nodes[0].HTTPAddr
	api := httpAgent{t: t, addr: addr}

	t.Run("key watch prints each change", func(t *testing.T) {
		cmd := startWatch(t, addr, "-type=key", "-key=cfg/x")
		testcluster.WaitFor(t, 30*time.Second, func() error {
			if cmd.stdout.String() != "null\n" {
				return fmt.Errorf("stdout %q, want null for a missing key", cmd.stdout)
			}
			return nil
		})
		api.put("cfg/x", "hello", url.Values{"flags": {"42"}})
		testcluster.WaitFor(t, 30*time.Second, func() error {
			if !strings.Contains(cmd.stdout.String(), `    "Key": "cfg/x",`) {
				return fmt.Errorf("stdout %q", cmd.stdout)
			}
			return nil
		})
		cmd.cancel()
		if code := cmd.wait(t); code != 0 {
			t.Errorf("exit code %d", code)
		}
		out := cmd.stdout.String()
		if !strings.Contains(out, `"Value": "aGVsbG8="`) || !strings.Contains(out, `"Flags": 42,`) {
			t.Errorf("stdout = %s", out)
		}
	})

	t.Run("meridian event reaches an event watch", func(t *testing.T) {
		dir := t.TempDir()
		log := filepath.Join(dir, "log")
		handler := fmt.Sprintf(`cat >> '%s'`, log)
		cmd := startWatch(t, addr, "-type=event", "-name=deploy", handler)
		waitFile(t, log) // the first run, before any event
		ids := map[string]bool{}
		for _, payload := range []string{"v1", "v2"} {
			res := runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": addr}, "", "event", "-name=deploy", payload)
			id, ok := strings.CutPrefix(strings.TrimSpace(res.stdout), "Event ID: ")
			if res.code != 0 || !ok || len(id) != 36 {
				t.Fatalf("event: code %d stdout %q stderr %q", res.code, res.stdout, res.stderr)
			}
			ids[id] = true
		}
		res := runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": addr}, "", "event", "-name=other", "x")
		if res.code != 0 {
			t.Fatalf("event other: %q", res.stderr)
		}
		var seen []string
		testcluster.WaitFor(t, 30*time.Second, func() error {
			b, _ := os.ReadFile(log)
			seen = seen[:0]
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var events []struct{ ID, Name string }
				if err := json.Unmarshal([]byte(line), &events); err != nil {
					return fmt.Errorf("handler input %q: %v", line, err)
				}
				for _, e := range events {
					if e.Name != "deploy" {
						return fmt.Errorf("watch of deploy got a %q event", e.Name)
					}
					seen = append(seen, e.ID)
				}
			}
			if len(seen) < 2 {
				return fmt.Errorf("handler saw %v", seen)
			}
			return nil
		})
		cmd.cancel()
		if code := cmd.wait(t); code != 0 {
			t.Errorf("exit code %d, stderr %q", code, cmd.stderr)
		}
		if len(seen) != 2 || !ids[seen[0]] || !ids[seen[1]] || seen[0] == seen[1] {
			t.Errorf("handler saw events %v, want each of %v once", seen, ids)
		}
	})

	t.Run("-once prints the current result and exits", func(t *testing.T) {
		api.put("once/a", "1", nil)
		res := runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": addr}, "", "watch", "-once", "-type=keyprefix", "-prefix=once/")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "[\n    {\n") || !strings.Contains(res.stdout, `"Key": "once/a",`) || strings.Count(res.stdout, "[") != 1 {
			t.Errorf("code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
	})

	t.Run("a failing handler stops the watch", func(t *testing.T) {
		cmd := startWatch(t, addr, "-type=nodes", "echo broken >&2; exit 3")
		if code := cmd.wait(t); code != exitError {
			t.Errorf("exit code %d, want 1", code)
		}
		if errOut := cmd.stderr.String(); !strings.Contains(errOut, "broken\n") || !strings.HasSuffix(errOut, "Error executing handler: exit status 3\n") {
			t.Errorf("stderr = %q", errOut)
		}
	})

	// 100 writes in a burst under a prefix: the handler runs in order, at
	// least once after the last write, and its last run sees all 100 keys.
	t.Run("keyprefix handler keeps up with a burst", func(t *testing.T) {
		dir := t.TempDir()
		log := filepath.Join(dir, "log")
		handler := fmt.Sprintf(`n=$(grep -o '"Key":' | wc -l); echo "$CONSUL_INDEX $MERIDIAN_INDEX $n" >> '%s'`, log)
		cmd := startWatch(t, addr, "-type=keyprefix", "-prefix=burst/", handler)
		waitFile(t, log) // the first run, with no keys yet
		for i := range 100 {
			api.put(fmt.Sprintf("burst/%03d", i), strconv.Itoa(i), nil)
		}
		_, h, _ := api.do("GET", "/v1/kv/burst/", url.Values{"recurse": {""}}, "")
		lastWrite, _ := strconv.ParseUint(h.Get("X-Consul-Index"), 10, 64)

		var runs [][3]uint64
		testcluster.WaitFor(t, 30*time.Second, func() error {
			b, _ := os.ReadFile(log)
			runs = runs[:0]
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var r [3]uint64
				if _, err := fmt.Sscan(line, &r[0], &r[1], &r[2]); err != nil {
					return fmt.Errorf("line %q: %v", line, err)
				}
				runs = append(runs, r)
			}
			if last := runs[len(runs)-1]; last[2] != 100 {
				return fmt.Errorf("last run saw %d keys", last[2])
			}
			return nil
		})
		cmd.cancel()
		if code := cmd.wait(t); code != 0 {
			t.Errorf("exit code %d, stderr %q", code, cmd.stderr)
		}
		if runs[0][2] != 0 {
			t.Errorf("first run saw %d keys, want 0", runs[0][2])
		}
		for i, r := range runs {
			if r[0] != r[1] {
				t.Errorf("run %d: CONSUL_INDEX %d != MERIDIAN_INDEX %d", i, r[0], r[1])
			}
			if i > 0 && (r[0] <= runs[i-1][0] || r[2] < runs[i-1][2]) {
				t.Errorf("run %d (index %d, %d keys) after (index %d, %d keys): out of order", i, r[0], r[2], runs[i-1][0], runs[i-1][2])
			}
		}
		if last := runs[len(runs)-1]; last[0] < lastWrite {
			t.Errorf("last run at index %d, before the last write at %d", last[0], lastWrite)
		}
		t.Logf("%d handler runs for 100 writes", len(runs))
	})
}

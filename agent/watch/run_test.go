package watch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

func kvList(keys ...string) string {
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, fmt.Sprintf(`{"Key":%q,"Flags":3304740253564472344,"Value":null,"CreateIndex":1,"ModifyIndex":1}`, k))
	}
	out := "["
	for i, p := range pairs {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out + "]"
}

func keysOf(t *testing.T, result any) []string {
	t.Helper()
	if result == nil {
		return nil
	}
	raw, ok := result.(json.RawMessage)
	if !ok {
		t.Fatalf("result is %T, want json.RawMessage", result)
	}
	var pairs []struct{ Key string }
	if err := json.Unmarshal(raw, &pairs); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range pairs {
		keys = append(keys, p.Key)
	}
	return keys
}

func TestRunIndexProgression(t *testing.T) {
	agent := newBlockingAgent(t, 5, kvList("app/a"))
	p := mustParse(t, map[string]any{"type": "keyprefix", "prefix": "app/", "token": "sekrit"})
	var rec recorder
	runPlan(t, p, agent.url, rec.handle)

	calls := rec.waitCalls(t, 1)
	agent.waitQuery("5")
	agent.set(7, kvList("app/a", "app/b"))
	calls = rec.waitCalls(t, 2)
	agent.waitQuery("7")
	agent.set(9, kvList("app/a", "app/b", "app/c"))
	calls = rec.waitCalls(t, 3)
	agent.waitQuery("9")

	want := []struct {
		index uint64
		keys  []string
	}{{5, []string{"app/a"}}, {7, []string{"app/a", "app/b"}}, {9, []string{"app/a", "app/b", "app/c"}}}
	for i, w := range want {
		if calls[i].index != w.index || !reflect.DeepEqual(keysOf(t, calls[i].result), w.keys) {
			t.Errorf("call %d = index %d keys %v, want %d %v", i, calls[i].index, keysOf(t, calls[i].result), w.index, w.keys)
		}
	}
	// The first read does not block; each later one blocks on the index
	// of the previous answer, with the plan's wait and token.
	qs := agent.seen()
	for i, wantIndex := range []string{"", "5", "7", "9"} {
		if qs[i].index != wantIndex || qs[i].path != "/v1/kv/app/" || qs[i].token != "sekrit" {
			t.Errorf("query %d = %+v, want index %q on /v1/kv/app/ with the token", i, qs[i], wantIndex)
		}
		if wantIndex != "" && qs[i].wait != "10000ms" {
			t.Errorf("query %d wait = %q, want 10000ms", i, qs[i].wait)
		}
	}
	// The handler gets the agent's JSON as it was: field order, and flags
	// beyond 2^53.
	if got, want := string(calls[0].result.(json.RawMessage)), kvList("app/a"); got != want {
		t.Errorf("result = %s, want %s", got, want)
	}
}

func TestRunResetsIndexWhenItGoesBackwards(t *testing.T) {
	agent := newBlockingAgent(t, 100, kvList("a"))
	p := mustParse(t, map[string]any{"type": "keyprefix", "prefix": "a"})
	var rec recorder
	runPlan(t, p, agent.url, rec.handle)
	rec.waitCalls(t, 1)
	agent.waitQuery("100")

	agent.set(40, kvList("a", "b")) // a snapshot restore: the index goes back
	calls := rec.waitCalls(t, 2)
	if calls[1].index != 40 {
		t.Errorf("second call index = %d, want 40", calls[1].index)
	}
	agent.waitQuery("40")
	// After 100 came 40: the next read was a non-blocking one (no index),
	// then it blocked on 40 again.
	qs := agent.seen()
	var got []string
	for _, q := range qs {
		got = append(got, q.index)
	}
	want := []string{"", "100", "", "40"}
	if !reflect.DeepEqual(got[:4], want) {
		t.Errorf("query indexes = %q, want %q", got, want)
	}
	// Same data at index 40 after the reset: no extra handler call.
	if calls, _ := rec.snapshot(); len(calls) != 2 {
		t.Errorf("%d handler calls, want 2", len(calls))
	}
}

func TestRunSkipsUnchangedResults(t *testing.T) {
	agent := newBlockingAgent(t, 3, kvList("a"))
	p := mustParse(t, map[string]any{"type": "keyprefix", "prefix": "a"})
	var rec recorder
	runPlan(t, p, agent.url, rec.handle)
	rec.waitCalls(t, 1)
	agent.waitQuery("3")
	agent.set(4, kvList("a")) // the index moves, the data does not
	agent.waitQuery("4")
	agent.set(5, kvList("a", "b"))
	calls := rec.waitCalls(t, 2)
	if len(calls) != 2 || calls[1].index != 5 {
		t.Errorf("calls = %+v, want index 3 then 5", calls)
	}
}

func TestRunBacksOffOnErrors(t *testing.T) {
	agent := newBlockingAgent(t, 2, kvList("a"))
	agent.failRequests(8)
	p := mustParse(t, map[string]any{"type": "keyprefix", "prefix": "a"})
	var mu sync.Mutex
	var sleeps []time.Duration
	p.sleep = func(_ <-chan struct{}, d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		sleeps = append(sleeps, d)
		return true
	}
	var rec recorder
	runPlan(t, p, agent.url, rec.handle)
	rec.waitCalls(t, 1)
	agent.waitQuery("2")

	mu.Lock()
	got := append([]time.Duration(nil), sleeps...)
	mu.Unlock()
	s := time.Second
	want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("back-offs = %v, want %v", got, want)
	}
	if n := len(agent.seen()); n != 10 { // 8 failures, 1 success, 1 blocked
		t.Errorf("%d requests, want 10", n)
	}

	// A success resets the back-off: the next failure waits 1s again.
	agent.failRequests(1)
	agent.set(3, kvList("a", "b"))
	rec.waitCalls(t, 2)
	waitFor(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(sleeps) != 9 {
			return fmt.Errorf("%d back-offs, want 9", len(sleeps))
		}
		if sleeps[8] != s {
			return fmt.Errorf("back-off after a success = %v, want 1s", sleeps[8])
		}
		return nil
	})
}

func TestRunRetriesBadAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, "boom"},
		{"not found on a non-KV endpoint", http.StatusNotFound, ""},
		{"bad JSON", http.StatusOK, "{"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent := newBlockingAgent(t, 2, tc.body)
			if tc.status != http.StatusOK {
				agent.setStatus(2, tc.status)
			}
			p := mustParse(t, map[string]any{"type": "nodes"})
			retried := make(chan time.Duration, 100)
			p.sleep = func(done <-chan struct{}, d time.Duration) bool {
				retried <- d
				<-done // hold the loop here until the test stops it
				return false
			}
			var rec recorder
			stop := runPlan(t, p, agent.url, rec.handle)
			select {
			case d := <-retried:
				if d != time.Second {
					t.Errorf("first back-off = %v, want 1s", d)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no back-off after a bad answer")
			}
			stop()
			if calls, _ := rec.snapshot(); len(calls) != 0 {
				t.Errorf("handler called with a bad answer: %+v", calls)
			}
		})
	}
}

func TestRunKeyWatch(t *testing.T) {
	agent := newBlockingAgent(t, 6, "")
	agent.setStatus(6, http.StatusNotFound) // no such key yet: 404 with an index
	p := mustParse(t, map[string]any{"type": "key", "key": "cfg/x"})
	var rec recorder
	runPlan(t, p, agent.url, rec.handle)
	calls := rec.waitCalls(t, 1)
	if calls[0].index != 6 || calls[0].result != nil {
		t.Errorf("first call = %+v, want index 6 and a nil result", calls[0])
	}
	agent.waitQuery("6")
	agent.set(8, `[{"Key":"cfg/x","Value":"MQ==","ModifyIndex":8}]`)
	calls = rec.waitCalls(t, 2)
	if got, _ := calls[1].result.(json.RawMessage); string(got) != `{"Key":"cfg/x","Value":"MQ==","ModifyIndex":8}` {
		t.Errorf("second call result = %#v, want the single pair", calls[1].result)
	}
	if got := agent.seen()[0].path; got != "/v1/kv/cfg/x" {
		t.Errorf("path = %q", got)
	}
}

// TestRunCoalesces: while the handler is busy, 100 changes arrive; the
// handler is never run twice at once, sees increasing indexes, is called
// far fewer than 100 times, and its last call has the final state.
func TestRunCoalesces(t *testing.T) {
	agent := newBlockingAgent(t, 1, kvList())
	p := mustParse(t, map[string]any{"type": "keyprefix", "prefix": "k/"})
	rec := recorder{gate: make(chan struct{})}
	runPlan(t, p, agent.url, rec.handle)
	rec.waitCalls(t, 1) // the first call is now stuck at the gate

	var keys []string
	for i := 1; i <= 100; i++ {
		keys = append(keys, fmt.Sprintf("k/%03d", i))
		agent.set(uint64(1+i), kvList(keys...))
	}
	// Let the loop read the final state, then open the gate for good.
	agent.waitQuery("101")
	close(rec.gate)
	waitFor(t, func() error {
		calls, _ := rec.snapshot()
		if last := calls[len(calls)-1]; last.index != 101 {
			return fmt.Errorf("last call index %d, want 101", last.index)
		}
		return nil
	})
	calls, overlap := rec.snapshot()
	if overlap {
		t.Error("handler calls overlapped")
	}
	if len(calls) > 10 {
		t.Errorf("%d handler calls for 100 changes behind a busy handler, want them coalesced", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].index <= calls[i-1].index {
			t.Errorf("call %d index %d after %d: out of order", i, calls[i].index, calls[i-1].index)
		}
	}
	if got := keysOf(t, calls[len(calls)-1].result); !reflect.DeepEqual(got, keys) {
		t.Errorf("last call saw %d keys, want all 100", len(got))
	}
}

func TestRunEventWatchHandsOverNewEvents(t *testing.T) {
	ev := func(ids ...string) string {
		out := "["
		for i, id := range ids {
			if i > 0 {
				out += ","
			}
			out += fmt.Sprintf(`{"ID":%q,"Name":"deploy","Payload":null,"Version":1,"LTime":%d}`, id, i+1)
		}
		return out + "]"
	}
	id1 := "11111111-0000-0000-0000-000000000001"
	id2 := "22222222-0000-0000-0000-000000000002"
	id3 := "03333333-0000-0000-0000-000000000003"
	// Event indexes are hashes of the newest ID, in no order: id3 maps to a
	// smaller index than id2, which must not reset the watch.
	agent := newBlockingAgent(t, EventIDToIndex(id1), ev(id1))
	p := mustParse(t, map[string]any{"type": "event", "name": "deploy"})
	var rec recorder
	runPlan(t, p, agent.url, rec.handle)
	rec.waitCalls(t, 1)
	agent.waitQuery(fmt.Sprint(EventIDToIndex(id1)))
	agent.set(EventIDToIndex(id2), ev(id1, id2))
	rec.waitCalls(t, 2)
	agent.waitQuery(fmt.Sprint(EventIDToIndex(id2)))
	agent.set(EventIDToIndex(id3), ev(id1, id2, id3))
	calls := rec.waitCalls(t, 3)
	agent.waitQuery(fmt.Sprint(EventIDToIndex(id3)))

	idsOf := func(r any) []string {
		var events []struct{ ID string }
		if err := json.Unmarshal(r.(json.RawMessage), &events); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range events {
			ids = append(ids, e.ID)
		}
		return ids
	}
	want := [][]string{{id1}, {id2}, {id3}}
	for i, w := range want {
		if got := idsOf(calls[i].result); !reflect.DeepEqual(got, w) {
			t.Errorf("call %d events = %v, want %v", i, got, w)
		}
	}
	for _, q := range agent.seen() {
		if q.path != "/v1/event/list" {
			t.Errorf("path = %q", q.path)
		}
		if q.index == "0" {
			t.Error("event watch reset its index")
		}
	}
	if len(agent.seen()) != 4 {
		t.Errorf("%d queries, want 4 (no reset between them)", len(agent.seen()))
	}
}

func TestRunArguments(t *testing.T) {
	p := mustParse(t, map[string]any{"type": "nodes"})
	if err := p.Run(t.Context(), "127.0.0.1:1", nil); err == nil {
		t.Error("Run with a nil handler succeeded")
	}
	if err := p.Run(t.Context(), "ftp://x:1", func(uint64, any) {}); err == nil {
		t.Error("Run with an ftp address succeeded")
	}
}

func TestBackoff(t *testing.T) {
	s := time.Second
	for n, want := range map[int]time.Duration{1: s, 2: 2 * s, 3: 4 * s, 5: 16 * s, 6: 30 * s, 60: 30 * s} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

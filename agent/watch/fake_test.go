package watch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// blockingAgent is an httptest stand-in for the agent's HTTP API serving
// one resource with Consul's blocking semantics: a request with index=N
// waits while the resource's index is still N (or until its wait ends),
// and every answer carries X-Consul-Index.
type blockingAgent struct {
	t   *testing.T
	url string

	mu       sync.Mutex
	index    uint64
	status   int    // 0: 200
	body     string // the resource's JSON
	failNext int    // answer this many requests with 500 first
	changed  chan struct{}
	queries  []query // every request, in order
	served   []uint64
}

type query struct {
	path  string
	index string // the index parameter ("" when absent)
	token string
	wait  string
}

func newBlockingAgent(t *testing.T, index uint64, body string) *blockingAgent {
	t.Helper()
	a := &blockingAgent{t: t, index: index, body: body, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *blockingAgent) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	a.queries = append(a.queries, query{path: r.URL.Path, index: q.Get("index"), token: r.Header.Get("X-Consul-Token"), wait: q.Get("wait")})
	if a.failNext > 0 {
		a.failNext--
		a.mu.Unlock()
		http.Error(w, "No cluster leader", http.StatusInternalServerError)
		return
	}
	min, _ := strconv.ParseUint(q.Get("index"), 10, 64)
	wait, _ := time.ParseDuration(q.Get("wait"))
	timeout := time.After(wait)
	for min > 0 && a.index == min {
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
		case <-r.Context().Done():
			return
		}
		a.mu.Lock()
		if wait > 0 && a.index == min {
			select {
			case <-timeout:
				min = 0 // the wait ran out: answer with what there is
			default:
			}
		}
	}
	index, status, body := a.index, a.status, a.body
	a.served = append(a.served, index)
	a.mu.Unlock()
	w.Header().Set("X-Consul-Index", strconv.FormatUint(index, 10))
	w.Header().Set("X-Consul-LastContact", "0")
	w.Header().Set("X-Consul-KnownLeader", "true")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// set changes the resource and wakes the blocked requests.
func (a *blockingAgent) set(index uint64, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.index, a.body, a.status = index, body, 0
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *blockingAgent) setStatus(index uint64, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.index, a.status, a.body = index, status, ""
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *blockingAgent) failRequests(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext = n
}

func (a *blockingAgent) seen() []query {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]query(nil), a.queries...)
}

// waitQuery waits until a request with the given index parameter is
// blocked or served.
func (a *blockingAgent) waitQuery(index string) {
	a.t.Helper()
	waitFor(a.t, func() error {
		for _, q := range a.seen() {
			if q.index == index {
				return nil
			}
		}
		return fmt.Errorf("no query with index=%q yet: %+v", index, a.seen())
	})
}

// waitFor polls cond until it returns nil, failing the test after 20s.
func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	interval := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after 20s: %v", err)
		}
		time.Sleep(interval) // polling interval of a bounded wait
		interval = min(2*interval, 50*time.Millisecond)
	}
}

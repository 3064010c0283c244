package agent

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/pb"
)

// fakeDCs answers the RPCs of ?dc=* reads for three datacenters: each has
// one instance of "web" and an index; a hung datacenter answers nothing
// until its caller gives up; a blocking read waits for the index to move.
type fakeDCs struct {
	mu      sync.Mutex
	index   map[string]uint64
	hung    map[string]bool
	changed chan struct{} // closed and replaced on every change
}

func (f *fakeDCs) bump(dcName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index[dcName]++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeDCs) RPC(ctx context.Context, method string, req, resp proto.Message) error {
	switch method {
	case dc.MethodCatalogDatacenters:
		resp.(*pb.DatacentersResponse).Datacenters = []string{"dc1", "dc3", "dc2"}
		return nil
	case dc.MethodCatalogServiceNodes:
	default:
		panic("unexpected " + method)
	}
	q := req.(*pb.ServiceNodesRequest).Q.Query
	var expired <-chan time.Time
	if q.MinIndex > 0 {
		expired = time.After(time.Duration(q.MaxWaitNanos))
	}
	for {
		f.mu.Lock()
		idx, hung, changed := f.index[q.Dc], f.hung[q.Dc], f.changed
		f.mu.Unlock()
		select {
		case <-expired:
			q.MinIndex = 0 // the wait ran out: answer as it is
		default:
		}
		if !hung && (q.MinIndex == 0 || idx != q.MinIndex) {
			out := resp.(*pb.ServiceNodesResponse)
			out.Meta = &pb.QueryMeta{Index: idx, KnownLeader: true}
			out.Instances = []*pb.ServiceInstance{{
				Node:    &pb.Node{Node: "n-" + q.Dc, Datacenter: q.Dc},
				Service: &pb.Service{Id: "web-" + strconv.FormatUint(idx, 10), Service: "web"},
			}}
			return nil
		}
		select {
		case <-changed:
		case <-expired:
			expired = closed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// closed is a channel that is always ready.
var closed = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

func fakeAllDCAgent(f *fakeDCs) *Agent {
	cfg := &config.Config{Datacenter: "dc1", NodeName: "n-dc1", DefaultQueryTime: 5 * time.Minute, MaxQueryTime: 10 * time.Minute}
	return &Agent{cfg: cfg, log: logging.Discard(), backend: f,
		allDCTokens: newAllDCTokens(1000, 100), allDCTimeout: 3 * time.Second}
}

// get runs GET /v1/catalog/service/web?<query> on a.
func (a *Agent) getWeb(query string) (*httptest.ResponseRecorder, []catalogServiceJSON) {
	r := httptest.NewRequest("GET", "/v1/catalog/service/web?"+query, nil)
	r.SetPathValue("service", "web")
	w := httptest.NewRecorder()
	a.wrap(a.catalogService).ServeHTTP(w, r)
	var out []catalogServiceJSON
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w, out
}

func dcsOf(entries []catalogServiceJSON) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Datacenter+":"+e.ServiceID)
	}
	return out
}

// A datacenter that does not answer holds the read for the deadline only;
// the others come back, nearest first, and the header names it.
func TestAllDCDeadline(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := &fakeDCs{index: map[string]uint64{"dc1": 10, "dc2": 7, "dc3": 20}, hung: map[string]bool{"dc3": true}, changed: make(chan struct{})}
		a := fakeAllDCAgent(f)
		start := time.Now()
		w, entries := a.getWeb("dc=*")
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("answered after %s, want the 3 s deadline", took)
		}
		if w.Code != 200 || w.Header().Get(headerUnreachable) != "dc3" {
			t.Fatalf("%d, unreachable %q: %s", w.Code, w.Header().Get(headerUnreachable), w.Body)
		}
		if got := dcsOf(entries); len(got) != 2 || got[0] != "dc1:web-10" || got[1] != "dc2:web-7" {
			t.Fatalf("entries %v, want dc1's then dc2's", got)
		}
		// Every datacenter down: the local one's error.
		f.hung["dc1"], f.hung["dc2"] = true, true
		if w, _ := a.getWeb("dc=*"); w.Code != 500 {
			t.Fatalf("nothing answered: %d %s", w.Code, w.Body)
		}
	})
}

// A blocking ?dc=* read blocks on every datacenter at the indexes its
// token names and wakes when one moves; an unknown token answers at once.
func TestAllDCBlocking(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := &fakeDCs{index: map[string]uint64{"dc1": 10, "dc2": 7, "dc3": 20}, hung: map[string]bool{}, changed: make(chan struct{})}
		a := fakeAllDCAgent(f)
		w, _ := a.getWeb("dc=*")
		token := w.Header().Get("X-Consul-Index")
		if token != "1000" {
			t.Fatalf("first token %q, want 1000", token)
		}
		type answer struct {
			w       *httptest.ResponseRecorder
			entries []catalogServiceJSON
		}
		done := make(chan answer, 1)
		go func() {
			w, e := a.getWeb("dc=*&wait=1m&index=" + token)
			done <- answer{w, e}
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the blocking read answered before any change")
		default:
		}
		f.bump("dc2")
		synctest.Wait()
		var got answer
		select {
		case got = <-done:
		default:
			t.Fatal("the blocking read did not wake on dc2's change")
		}
		if e := dcsOf(got.entries); len(e) != 3 || e[2] != "dc2:web-8" {
			t.Fatalf("after the change %v", e)
		}
		next := got.w.Header().Get("X-Consul-Index")
		if next == token {
			t.Fatalf("the token did not change (%s)", next)
		}
		// No change for the whole wait: the same token back, after it.
		start := time.Now()
		w, _ = a.getWeb("dc=*&wait=1m&index=" + next)
		if took := time.Since(start); took < time.Minute || w.Header().Get("X-Consul-Index") != next {
			t.Fatalf("an idle wait answered after %s with token %s, want a minute and %s", took, w.Header().Get("X-Consul-Index"), next)
		}
		// A token this agent never minted answers at once.
		start = time.Now()
		if w, _ := a.getWeb("dc=*&index=424242"); w.Code != 200 || time.Since(start) != 0 {
			t.Fatalf("unknown token: %d after %s", w.Code, time.Since(start))
		}
	})
}

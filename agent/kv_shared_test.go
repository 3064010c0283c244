package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestKVWatchersShareOneAnswer: watchers of a key, through a server agent
// and through a client agent, share one blocking query and one encoding
// of its answer: each gets the new value, byte for byte the same body
// (X-Consul-Index and all); one asking ?pretty gets its own, indented;
// a keys-only watcher of the prefix gets the keys.
func TestKVWatchersShareOneAnswer(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 1})
	srv, cl := c.WaitForLeader(30*time.Second), c.Clients()[0]
	kv := client(t, srv).KV()
	if _, err := kv.Put(&api.KVPair{Key: "w/k", Value: []byte("v0")}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get("w/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	const perAgent = 20
	type answer struct {
		agent, query string
		body         []byte
		index        string
		err          error
	}
	answers := make(chan answer, 4*(perAgent+2))
	var wg sync.WaitGroup
	watch := func(n *testcluster.Node, query string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://%s/v1/kv/%s&index=%d&wait=30s", n.HTTPAddr, query, meta.LastIndex)
			resp, err := http.Get(url)
			if err != nil {
				answers <- answer{agent: n.Name, query: query, err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s", resp.Status)
			}
			answers <- answer{n.Name, query, body, resp.Header.Get("X-Consul-Index"), err}
		}()
	}
	for _, n := range []*testcluster.Node{srv, cl} {
		for range perAgent {
			watch(n, "w/k?")
		}
		watch(n, "w/k?pretty=1")
		watch(n, "w/?keys=1")
	}
	// Every watcher's request is held (the scrape is one more).
	for _, n := range []*testcluster.Node{srv, cl} {
		testcluster.WaitFor(t, 30*time.Second, func() error {
			fams, err := scrape(t, n.HTTPAddr)
			if err != nil {
				return err
			}
			if v := value(series(fams, "meridian_http_requests_in_flight", nil)); v < perAgent+3 {
				return fmt.Errorf("%s holds %v requests", n.Name, v)
			}
			return nil
		})
	}
	if _, err := kv.Put(&api.KVPair{Key: "w/k", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(answers)
	var plain []byte
	for a := range answers {
		if a.err != nil {
			t.Fatalf("%s %s: %v", a.agent, a.query, a.err)
		}
		if idx, _ := strconv.ParseUint(a.index, 10, 64); idx <= meta.LastIndex {
			t.Errorf("%s %s: index %s, want past %d", a.agent, a.query, a.index, meta.LastIndex)
		}
		switch {
		case strings.Contains(a.query, "keys"):
			var keys []string
			if err := json.Unmarshal(a.body, &keys); err != nil || len(keys) != 1 || keys[0] != "w/k" {
				t.Errorf("%s keys: %s", a.agent, a.body)
			}
			continue
		case strings.Contains(a.query, "pretty"):
			if !strings.Contains(string(a.body), "\n    ") {
				t.Errorf("%s pretty: not indented: %s", a.agent, a.body)
			}
		case plain == nil:
			plain = a.body
		case string(a.body) != string(plain):
			t.Errorf("%s: body %s, another watcher's %s", a.agent, a.body, plain)
		}
		var pairs []api.KVPair
		if err := json.Unmarshal(a.body, &pairs); err != nil || len(pairs) != 1 || string(pairs[0].Value) != "v1" {
			t.Errorf("%s %s: %s (%v)", a.agent, a.query, a.body, err)
		}
	}
}

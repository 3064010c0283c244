package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/testcluster"
)

func httpDo(t *testing.T, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

type uiService struct {
	Name                                                  string
	Tags, Nodes                                           []string
	InstanceCount                                         int
	ChecksPassing, ChecksWarning, ChecksCritical          int
	InstancesPassing, InstancesWarning, InstancesCritical int
}

// TestUISummaries: /v1/internal/ui/services rolls instances up by their
// worst check (node checks included), the node endpoints group services
// and checks by node, and a blocking read returns on a check change.
func TestUISummaries(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	base := "http://" + c.Servers()[0].HTTPAddr
	register := func(body string) {
		t.Helper()
		if resp, data := httpDo(t, "PUT", base+"/v1/catalog/register", body); resp.StatusCode != 200 {
			t.Fatalf("register: %d %s", resp.StatusCode, data)
		}
	}
	// n1: api passing, but a node check warns: the instance warns.
	register(`{"Node":"n1","Address":"10.0.0.1","Service":{"ID":"api-1","Service":"api","Tags":["b","a"]},
		"Checks":[{"CheckID":"api-1","Name":"api","Status":"passing","ServiceID":"api-1"},{"CheckID":"mem","Name":"memory","Status":"warning"}]}`)
	// n2: api passing.
	register(`{"Node":"n2","Address":"10.0.0.2","Service":{"ID":"api-2","Service":"api","Tags":["c"]},
		"Checks":[{"CheckID":"api-2","Name":"api","Status":"passing","ServiceID":"api-2"}]}`)
	// n3: db without checks counts as passing.
	register(`{"Node":"n3","Address":"10.0.0.3","Service":{"ID":"db","Service":"db"}}`)

	resp, data := httpDo(t, "GET", base+"/v1/internal/ui/services", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("services: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	var services []uiService
	if err := json.Unmarshal(data, &services); err != nil {
		t.Fatal(err)
	}
	byName := map[string]uiService{}
	for _, s := range services {
		byName[s.Name] = s
	}
	api, db := byName["api"], byName["db"]
	if api.InstanceCount != 2 || api.InstancesPassing != 1 || api.InstancesWarning != 1 || api.InstancesCritical != 0 ||
		api.ChecksPassing != 2 || api.ChecksWarning != 1 || !slices.Equal(api.Tags, []string{"a", "b", "c"}) || !slices.Equal(api.Nodes, []string{"n1", "n2"}) {
		t.Errorf("api = %+v", api)
	}
	if db.InstanceCount != 1 || db.InstancesPassing != 1 || len(db.Tags) != 0 {
		t.Errorf("db = %+v", db)
	}
	index, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil || index == 0 {
		t.Fatalf("X-Consul-Index %q", resp.Header.Get("X-Consul-Index"))
	}

	// A blocking read waits for a change, here a check turning critical,
	// and sees it. Other writes (the leader's reconcile, anti-entropy) may
	// wake it first, with a higher index: a client then blocks again from
	// there, as this one does, until the change shows.
	type result struct {
		services []uiService
		index    string
		err      error
	}
	read := func(index uint64) <-chan result {
		done := make(chan result, 1)
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/v1/internal/ui/services?index=%d&wait=20s", base, index))
			if err != nil {
				done <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var out []uiService
			err = json.NewDecoder(resp.Body).Decode(&out)
			done <- result{out, resp.Header.Get("X-Consul-Index"), err}
		}()
		return done
	}
	changed := func(services []uiService) bool {
		for _, s := range services {
			if s.Name == "api" {
				return s.InstancesWarning == 1 && s.InstancesCritical == 1
			}
		}
		return false
	}
	pending := read(index)
	register(`{"Node":"n2","SkipNodeUpdate":true,"Checks":[{"CheckID":"api-2","Name":"api","Status":"critical","ServiceID":"api-2"}]}`)
	deadline := time.After(15 * time.Second)
	for {
		var r result
		select {
		case r = <-pending:
		case <-deadline:
			t.Fatal("the blocking read did not return the check's change")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		got, _ := strconv.ParseUint(r.index, 10, 64)
		if got <= index {
			t.Fatalf("blocking read answered index %s, not past %d", r.index, index)
		}
		if changed(r.services) {
			break
		}
		index = got
		pending = read(index)
	}

	var node struct {
		Node     string
		Services []struct{ ID string }
		Checks   []struct{ CheckID string }
	}
	resp, data = httpDo(t, "GET", base+"/v1/internal/ui/node/N1", "") // names are case-insensitive
	if err := json.Unmarshal(data, &node); err != nil || resp.StatusCode != 200 {
		t.Fatalf("node n1: %d %s", resp.StatusCode, data)
	}
	if node.Node != "n1" || len(node.Services) != 1 || len(node.Checks) != 2 {
		t.Errorf("node n1 = %+v", node)
	}
	if resp, data := httpDo(t, "GET", base+"/v1/internal/ui/node/nope", ""); resp.StatusCode != 404 || !strings.Contains(string(data), "nope") {
		t.Errorf("unknown node: %d %s", resp.StatusCode, data)
	}
	var nodes []struct{ Node string }
	_, data = httpDo(t, "GET", base+"/v1/internal/ui/nodes", "")
	if err := json.Unmarshal(data, &nodes); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Node)
	}
	if want := []string{c.Servers()[0].Name, "n1", "n2", "n3"}; !slices.Equal(names, want) {
		t.Errorf("nodes = %v", names)
	}
	if resp, data := httpDo(t, "GET", base+"/v1/internal/ui/services?dc=bad/dc", ""); resp.StatusCode != 400 {
		t.Errorf("bad dc: %d %s", resp.StatusCode, data)
	}
}

package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Readers of a large service on a server agent share one encoded answer:
// it is byte for byte what a fresh encoding gives (headers included), and
// a change, another filter or ?pretty are never answered from it.
func TestHealthServiceEncodedAnswers(t *testing.T) {
	c := cluster(t)
	leader := c.WaitForLeader(10 * time.Second)
	cl := client(t, leader)
	for i := range 40 {
		if _, err := cl.Catalog().Register(&api.CatalogRegistration{
			Node: fmt.Sprintf("n%d", i%4), Address: "10.0.0.1",
			Service: &api.AgentService{ID: fmt.Sprintf("big-%d", i), Service: "big", Port: 1000 + i},
			Check:   &api.AgentCheck{CheckID: fmt.Sprintf("c%d", i), Name: "alive", ServiceID: fmt.Sprintf("big-%d", i), Status: api.HealthPassing},
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	get := func(query string) ([]byte, http.Header) {
		t.Helper()
		resp, err := http.Get("http://" + leader.HTTPAddr + "/v1/health/service/big?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s %v", query, resp.StatusCode, body, err)
		}
		return body, resp.Header
	}
	decode := func(b []byte) []map[string]any {
		t.Helper()
		var out []map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, h1 := get("passing")
	second, h2 := get("passing")
	if string(first) != string(second) || h1.Get("X-Consul-Index") != h2.Get("X-Consul-Index") || h1.Get("Content-Type") != h2.Get("Content-Type") {
		t.Fatalf("two reads of an unchanged service differ: index %s/%s", h1.Get("X-Consul-Index"), h2.Get("X-Consul-Index"))
	}
	pretty, _ := get("passing&pretty")
	if !reflect.DeepEqual(decode(pretty), decode(first)) || string(pretty) == string(first) {
		t.Fatal("?pretty answered from the compact encoding, or with other content")
	}
	if len(decode(first)) != 40 {
		t.Fatalf("%d entries, want 40", len(decode(first)))
	}
	filtered, _ := get("passing&filter=" + "Service.Port%20%3D%3D%201003")
	if got := decode(filtered); len(got) != 1 {
		t.Fatalf("filtered read: %d entries, want 1", len(got))
	}
	if again, _ := get("passing"); string(again) != string(first) {
		t.Fatal("the filtered answer leaked into the unfiltered one")
	}

	if _, err := cl.Catalog().Register(&api.CatalogRegistration{Node: "n3", SkipNodeUpdate: true,
		Check: &api.AgentCheck{CheckID: "c3", Name: "alive", ServiceID: "big-3", Status: api.HealthCritical}}, nil); err != nil {
		t.Fatal(err)
	}
	after, h3 := get("passing")
	if got := decode(after); len(got) != 39 || h3.Get("X-Consul-Index") == h1.Get("X-Consul-Index") {
		t.Fatalf("after a check failed: %d entries, index %s (before %s)", len(got), h3.Get("X-Consul-Index"), h1.Get("X-Consul-Index"))
	}
	// The follower, a server agent too, answers the same.
	fbody, _ := func() ([]byte, http.Header) {
		resp, err := http.Get("http://" + c.Followers()[0].HTTPAddr + "/v1/health/service/big?passing")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b, resp.Header
	}()
	if !reflect.DeepEqual(decode(fbody), decode(after)) {
		t.Fatal("the follower's answer differs from the leader's")
	}
}

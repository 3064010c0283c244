package agent_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/testcluster"
)

func TestPrometheusMetrics(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	leader := c.WaitForLeader(10 * time.Second)
	cl := client(t, leader)
	if _, _, err := cl.KV().Get("x", nil); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + leader.HTTPAddr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"meridian_raft_leader 1",
		"meridian_lan_members_alive 1",
		`meridian_http_requests_total{code="404",route="GET /v1/kv/{key...}"} 1`,
		"meridian_http_requests_in_flight 1", // this scrape
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	m, err := cl.Agent().Metrics()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range m.Gauges {
		if g.Name == "meridian_raft_leader" && g.Value == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("JSON metrics lack the leader gauge: %+v", m.Gauges)
	}
}

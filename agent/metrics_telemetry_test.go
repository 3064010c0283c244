package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// scrape reads an agent's Prometheus exposition through expfmt's parser.
func scrape(t *testing.T, httpAddr string) (map[string]*dto.MetricFamily, error) {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// series finds the series of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a series' gauge or counter value, or its summary's count.
func value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

// expectation is one series a scrape must have, and a test of its value.
type expectation struct {
	family string
	labels map[string]string
	ok     func(float64) bool
	want   string
}

func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
func exactly(n float64) func(float64) bool { return func(v float64) bool { return v == n } }

func checkScrape(t *testing.T, addr string, exps []expectation) error {
	fams, err := scrape(t, addr)
	if err != nil {
		return err
	}
	var missing []string
	for _, e := range exps {
		m := series(fams, e.family, e.labels)
		if m == nil {
			missing = append(missing, fmt.Sprintf("%s%v: no such series", e.family, e.labels))
			continue
		}
		if v := value(m); !e.ok(v) {
			missing = append(missing, fmt.Sprintf("%s%v = %v, want %s", e.family, e.labels, v, e.want))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %s", addr, strings.Join(missing, "; "))
	}
	return nil
}

// TestPrometheusTelemetry writes keys, fails a check, sends a request to
// another datacenter and holds a blocking query open, then parses the
// servers' and the client's expositions and checks the families each of
// those must have produced.
func TestPrometheusTelemetry(t *testing.T) {
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 1, Clients: 1})
	dc1 := f.DC("dc1")
	srv, cli := dc1.Servers()[0], dc1.Clients()[0]
	c := client(t, cli)

	for i := range 10 {
		if _, err := c.KV().Put(&api.KVPair{Key: fmt.Sprintf("metrics/%d", i), Value: []byte("v")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.KV().Put(&api.KVPair{Key: "remote", Value: []byte("v")}, &api.WriteOptions{Datacenter: "dc2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().CheckRegister(&api.AgentCheckRegistration{Name: "ttl-check", AgentServiceCheck: api.AgentServiceCheck{TTL: "10m"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().FailTTL("ttl-check", "down"); err != nil {
		t.Fatal(err)
	}

	// A blocking query waits on the server until the test ends.
	_, meta, err := c.KV().Get("metrics/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		q := (&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute}).WithContext(ctx)
		_, _, _ = c.KV().Get("metrics/0", q)
	}()
	t.Cleanup(func() { cancel(); <-blocked })

	server := []expectation{
		{"meridian_raft_commitTime", nil, atLeast(11), ">= 11 commits"},
		// Servers apply committed entries in batches (BatchingFSM).
		{"meridian_raft_fsm_applyBatch", nil, atLeast(1), ">= 1 batch"},
		{"meridian_raft_fsm_applyBatchNum", nil, atLeast(1), ">= 1 batch"},
		{"meridian_raft_leader_dispatchLog", nil, atLeast(1), ">= 1 log write"},
		// The WAL (the default log store) counts its appends.
		{"meridian_raft_wal_log_appends", nil, atLeast(1), ">= 1 log append"},
		{"meridian_raft_apply", nil, atLeast(11), ">= 11"},
		{"meridian_raft_leader_changes", nil, atLeast(1), ">= 1"},
		{"meridian_rpc_request", map[string]string{"method": "KV.Apply"}, atLeast(10), ">= 10"},
		{"meridian_rpc_server_call", map[string]string{"method": "KV.Apply", "errored": "false"}, atLeast(10), ">= 10"},
		{"meridian_rpc_cross_dc", map[string]string{"datacenter": "dc2", "method": "KV.Apply"}, exactly(1), "1"},
		{"meridian_rpc_cross_dc_call", map[string]string{"datacenter": "dc2", "method": "KV.Apply", "errored": "false"}, exactly(1), "1"},
		{"meridian_rpc_query", nil, atLeast(1), ">= 1"},
		{"meridian_rpc_queries_blocking", nil, exactly(1), "1 (the test's query)"},
		{"meridian_serf_members", map[string]string{"network": "lan", "status": "alive"}, exactly(2), "2"},
		{"meridian_serf_members", map[string]string{"network": "wan", "status": "alive"}, exactly(2), "2"},
		{"meridian_serf_members", map[string]string{"network": "lan", "status": "failed"}, exactly(0), "0"},
		{"meridian_serf_member_join", map[string]string{"network": "lan"}, atLeast(1), ">= 1"},
		{"meridian_serf_member_join", map[string]string{"network": "wan"}, atLeast(1), ">= 1"},
		{"meridian_memberlist_gossip", map[string]string{"network": "lan"}, atLeast(1), ">= 1"},
		{"meridian_state_checks", map[string]string{"state": "critical"}, exactly(1), "1"},
		{"meridian_state_table_rows", map[string]string{"table": "kvs"}, exactly(10), "10"},
		{"meridian_state_table_rows", map[string]string{"table": "nodes"}, exactly(2), "2"},
		{"meridian_state_kv_value_files", nil, exactly(1), "1 (ten small values)"},
		{"meridian_state_kv_value_bytes", nil, exactly(10), "10 (ten values of one byte)"},
		{"meridian_raft_leader", nil, exactly(1), "1"},
	}
	testcluster.WaitFor(t, 20*time.Second, func() error { return checkScrape(t, srv.HTTPAddr, server) })

	agentSide := []expectation{
		{"meridian_agent_checks", map[string]string{"state": "critical"}, exactly(1), "1"},
		{"meridian_agent_checks", map[string]string{"state": "passing"}, exactly(0), "0"},
		{"meridian_http_requests_total", map[string]string{"route": "PUT /v1/kv/{key...}", "code": "200"}, atLeast(11), ">= 11"},
		{"meridian_serf_members", map[string]string{"network": "wan", "status": "alive"}, exactly(0), "0 (a client is in no WAN pool)"},
		{"go_goroutines", nil, atLeast(1), ">= 1"},
	}
	testcluster.WaitFor(t, 20*time.Second, func() error { return checkScrape(t, cli.HTTPAddr, agentSide) })

	// The JSON form is Consul's: the sink's counters and samples under
	// dotted names, and the gauges.
	testcluster.WaitFor(t, 30*time.Second, func() error {
		m, err := client(t, srv).Agent().Metrics()
		if err != nil {
			return err
		}
		has := func(vals []api.SampledValue, name string) bool {
			for _, v := range vals {
				if v.Name == name && v.Count > 0 {
					return true
				}
			}
			return false
		}
		switch {
		case !has(m.Counters, "meridian.rpc.request"):
			return fmt.Errorf("JSON counters lack meridian.rpc.request: %+v", m.Counters)
		case !has(m.Samples, "meridian.rpc.server.call"):
			return fmt.Errorf("JSON samples lack meridian.rpc.server.call: %+v", m.Samples)
		}
		for _, g := range m.Gauges {
			if g.Name == "meridian_raft_leader" && g.Value == 1 {
				return nil
			}
		}
		return fmt.Errorf("JSON gauges lack meridian_raft_leader")
	})
}

// TestSerfFlapMetric stops a client agent without leaving, waits until
// the server has it failed, starts it again: the LAN pool counts a flap.
func TestSerfFlapMetric(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 1})
	srv, cli := c.Servers()[0], c.Clients()[0]
	c.Stop(cli)
	testcluster.WaitFor(t, 30*time.Second, func() error {
		return checkScrape(t, srv.HTTPAddr, []expectation{
			{"meridian_serf_members", map[string]string{"network": "lan", "status": "failed"}, exactly(1), "1"},
		})
	})
	c.Start(cli)
	testcluster.WaitFor(t, 30*time.Second, func() error {
		return checkScrape(t, srv.HTTPAddr, []expectation{
			{"meridian_serf_members", map[string]string{"network": "lan", "status": "alive"}, exactly(2), "2"},
			{"meridian_serf_member_flap", map[string]string{"network": "lan"}, atLeast(1), ">= 1"},
		})
	})
}

// TestStatsdSink points an agent at a UDP listener: Raft's and the RPC
// layer's metrics and the computed gauges arrive as statsd lines.
func TestStatsdSink(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	args := []string{"-hcl", fmt.Sprintf(`telemetry { statsd_address = %q }`, pc.LocalAddr().String())}
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: args})
	srv := c.WaitForLeader(10 * time.Second)
	cl := client(t, srv)
	if _, err := cl.KV().Put(&api.KVPair{Key: "statsd", Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"meridian.raft.commitTime:":                                   false, // a timing (|ms)
		"meridian.rpc.request.KV.Apply:":                              false, // a counter (|c)
		"meridian." + srv.Name + ".serf.members.lan.alive:1.000000|g": false,
	}
	kinds := map[string]string{"meridian.raft.commitTime:": "|ms", "meridian.rpc.request.KV.Apply:": "|c"}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, seen := range want {
			done = done && seen
		}
		if done {
			return
		}
		_ = pc.SetReadDeadline(deadline)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			for prefix := range want {
				if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, kinds[prefix]) {
					want[prefix] = true
				}
			}
		}
	}
	t.Fatalf("statsd lines not received (true = seen): %v", want)
}

package telemetry

import (
	"net"
	"strings"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// statsdListener collects the lines a statsd sink sends.
type statsdListener struct {
	pc net.PacketConn
}

func newStatsdListener(t *testing.T) *statsdListener {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &statsdListener{pc: pc}
}

func (l *statsdListener) addr() string { return l.pc.LocalAddr().String() }

// waitLines reads until every wanted line has arrived or 10 s pass; it
// returns the wanted lines not seen.
func (l *statsdListener) waitLines(want ...string) []string {
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 65536)
	for len(missing) > 0 {
		_ = l.pc.SetReadDeadline(deadline)
		n, _, err := l.pc.ReadFrom(buf)
		if err != nil {
			break
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			delete(missing, line)
		}
	}
	var out []string
	for w := range missing {
		out = append(out, w)
	}
	return out
}

func TestStatsdLines(t *testing.T) {
	l := newStatsdListener(t)
	s, err := New(Config{Prefix: "meridian", HostName: "node1", StatsdAddr: l.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(nil)
	Attach(s, AgentID("dc1", "node1"), true)
	s.IncrCounter([]string{"rpc", "request"}, 1, Label{Name: "method", Value: "KV.Apply"})
	s.AddSample([]string{"rpc", "server", "call"}, 2.5)
	s.SetGauge([]string{"rpc", "queries_blocking"}, 3)
	s.PushGauge([]string{"serf", "members"}, 4, Label{Name: "network", Value: "lan"})
	// What a library emits through go-metrics' global gets the prefix.
	metrics.IncrCounter([]string{"raft", "apply"}, 1)
	metrics.AddSample([]string{"raft", "commitTime"}, 1.5)
	// Per-peer duplicates of labelled series are dropped.
	metrics.AddSample([]string{"raft", "replication", "heartbeat", "peer-1"}, 1)
	if missing := l.waitLines(
		"meridian.rpc.request.KV.Apply:1.000000|c",
		"meridian.rpc.server.call:2.500000|ms",
		"meridian.node1.rpc.queries_blocking:3.000000|g",
		"meridian.node1.serf.members.lan:4.000000|g",
		"meridian.raft.apply:1.000000|c",
		"meridian.raft.commitTime:1.500000|ms",
	); len(missing) > 0 {
		t.Fatalf("statsd lines not received: %q", missing)
	}
}

func TestDisableHostname(t *testing.T) {
	l := newStatsdListener(t)
	s, err := New(Config{Prefix: "consul", HostName: "node1", DisableHostname: true, StatsdAddr: l.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(nil)
	s.SetGauge([]string{"raft", "peers"}, 2)
	if missing := l.waitLines("consul.raft.peers:2.000000|g"); len(missing) > 0 {
		t.Fatalf("statsd lines not received: %q", missing)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func TestPrometheusRetentionAndClose(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Prefix: "meridian", HostName: "node1", Retention: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	s.IncrCounter([]string{"rpc", "request"}, 2, Label{Name: "method", Value: "KV.Get"})
	s.MeasureSince([]string{"rpc", "server", "call"}, time.Now().Add(-time.Second))
	fams := gather(t, reg)
	c := fams["meridian_rpc_request"]
	if c == nil || c.GetMetric()[0].GetCounter().GetValue() != 2 || c.GetMetric()[0].GetLabel()[0].GetValue() != "KV.Get" {
		t.Fatalf("counter: %v", c)
	}
	sum := fams["meridian_rpc_server_call"]
	if sum == nil || sum.GetMetric()[0].GetSummary().GetSampleCount() != 1 || sum.GetMetric()[0].GetSummary().GetSampleSum() < 1000 {
		t.Fatalf("timing in ms: %v", sum)
	}
	if _, ok := fams["meridian_node1_rpc_request"]; ok {
		t.Fatal("the host name reached Prometheus")
	}
	// Series not updated within the retention time go.
	deadline := time.Now().Add(10 * time.Second)
	for len(gather(t, reg)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("series outlived their retention: %v", gather(t, reg))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	s.Close(reg)
	s.IncrCounter([]string{"rpc", "request"}, 1)
	if n := len(gather(t, reg)); n != 0 {
		t.Fatalf("%d families after Close", n)
	}
	// A second sink registers in the same registry once the first is gone.
	s2, err := New(Config{Prefix: "meridian", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close(reg)
}

func TestNilAndClosedSinkAreNoOps(t *testing.T) {
	var s *Sink
	s.IncrCounter([]string{"x"}, 1)
	s.MeasureSince([]string{"x"}, time.Now())
	s.SetGauge([]string{"x"}, 1)
	s.PushGauge([]string{"x"}, 1)
	s.Close(nil)
	if s.HasStatsd() {
		t.Fatal("nil sink has statsd")
	}
	l := newStatsdListener(t)
	s, err := New(Config{Prefix: "p", StatsdAddr: l.addr()})
	if err != nil {
		t.Fatal(err)
	}
	Attach(s, AgentID("dc1", "p"), true)
	s.Close(nil)
	s.Close(nil)
	s.IncrCounter([]string{"x"}, 1)
	metrics.IncrCounter([]string{"raft", "apply"}, 1) // detached: not delivered, no panic
	if _, err := New(Config{}); err == nil {
		t.Fatal("a sink without a prefix was built")
	}
}

// TestLibraryRouting: a gossip metric labelled with an agent reaches that
// agent's Sink alone, without the label; an unlabelled one (Raft's)
// reaches every server's Sink and no client's.
func TestLibraryRouting(t *testing.T) {
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, err := New(Config{Prefix: "meridian", Registerer: regA})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Prefix: "meridian", Registerer: regB})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(regB)
	regC := prometheus.NewRegistry()
	cl, err := New(Config{Prefix: "meridian", Registerer: regC})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(regC)
	Attach(a, AgentID("dc1", "a"), true)
	Attach(b, AgentID("dc1", "b"), true)
	Attach(cl, AgentID("dc1", "client"), false)
	net := Label{Name: "network", Value: "lan"}
	metrics.IncrCounterWithLabels([]string{"serf", "member", "join"}, 1, []Label{net, {Name: AgentLabel, Value: AgentID("dc1", "b")}})
	metrics.IncrCounterWithLabels([]string{"serf", "member", "join"}, 1, []Label{net, {Name: AgentLabel, Value: AgentID("dc1", "nobody")}})
	metrics.IncrCounter([]string{"raft", "apply"}, 1)
	famsA, famsB := gather(t, regA), gather(t, regB)
	if _, ok := famsA["meridian_serf_member_join"]; ok {
		t.Fatal("agent a got agent b's gossip metric")
	}
	join := famsB["meridian_serf_member_join"]
	if join == nil || len(join.GetMetric()) != 1 || len(join.GetMetric()[0].GetLabel()) != 1 || join.GetMetric()[0].GetLabel()[0].GetName() != "network" {
		t.Fatalf("agent b's join counter: %v", join)
	}
	if famsA["meridian_raft_apply"] == nil || famsB["meridian_raft_apply"] == nil || gather(t, regC)["meridian_raft_apply"] != nil {
		t.Fatalf("raft.apply went to a: %v, b: %v, the client: %v", famsA["meridian_raft_apply"] != nil,
			famsB["meridian_raft_apply"] != nil, gather(t, regC)["meridian_raft_apply"] != nil)
	}
	a.Close(regA)
	metrics.IncrCounter([]string{"raft", "apply"}, 1)
	if c := gather(t, regB)["meridian_raft_apply"]; c == nil || c.GetMetric()[0].GetCounter().GetValue() != 2 {
		t.Fatalf("after a closed, raft.apply did not reach b: %v", c)
	}
}

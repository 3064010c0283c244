package agent

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/pb"
)

// agentMetrics are what the agent exports for Prometheus at
// /v1/agent/metrics?format=prometheus.
type agentMetrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newAgentMetrics(a *Agent) *agentMetrics {
	reg := prometheus.NewRegistry()
	m := &agentMetrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_http_requests_total", Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meridian_http_request_duration_seconds", Help: "HTTP API latency by route (blocking queries included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 10, 60, 600},
		}, []string{"route"}),
	}
	raftGauge := func(name, help, stat string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if a.server == nil {
				return 0
			}
			v, _ := strconv.ParseFloat(a.server.Stats()[stat], 64)
			return v
		})
	}
	kvRepl := func(get func(*pb.KVReplicationStatus) float64) func() float64 {
		return func() float64 {
			if a.server == nil {
				return 0
			}
			return get(a.server.KVReplicationStatus())
		}
	}
	kvReplGauge := func(name, help string, get func(*pb.KVReplicationStatus) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, kvRepl(get))
	}
	kvReplCounter := func(name, help string, get func(*pb.KVReplicationStatus) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, kvRepl(get))
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency,
		raftGauge("meridian_raft_last_log_index", "Last index in the Raft log.", "last_log_index"),
		raftGauge("meridian_raft_commit_index", "Raft commit index.", "commit_index"),
		raftGauge("meridian_raft_applied_index", "Last index applied to the state store.", "applied_index"),
		raftGauge("meridian_raft_num_peers", "Raft peers besides this server.", "num_peers"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_raft_leader", Help: "1 if this server is the Raft leader."}, func() float64 {
			if a.server != nil && a.server.IsLeader() {
				return 1
			}
			return 0
		}),
		kvReplGauge("meridian_kv_replication_running", "1 while this server (the leader) replicates KV from the source datacenter.", func(s *pb.KVReplicationStatus) float64 {
			if s.Running {
				return 1
			}
			return 0
		}),
		kvReplGauge("meridian_kv_replication_source_index", "Newest index of the source datacenter seen by KV replication.", func(s *pb.KVReplicationStatus) float64 { return float64(s.SourceIndex) }),
		kvReplGauge("meridian_kv_replication_applied_index", "Source index up to which replicated KV changes are applied.", func(s *pb.KVReplicationStatus) float64 { return float64(s.AppliedIndex) }),
		kvReplGauge("meridian_kv_replication_lag_entries", "Replicated KV changes fetched but not applied yet.", func(s *pb.KVReplicationStatus) float64 { return float64(s.LagEntries) }),
		kvReplGauge("meridian_kv_replication_lag_seconds", "Seconds since KV replication was last known to be in step (0 while it is).", func(s *pb.KVReplicationStatus) float64 { return s.LagSeconds }),
		kvReplCounter("meridian_kv_replication_entries_transferred_total", "KV entries and deletions received from the source datacenter by this server.", func(s *pb.KVReplicationStatus) float64 { return float64(s.EntriesTransferred) }),
		kvReplCounter("meridian_kv_replication_full_syncs_total", "Full copies of the replicated prefixes taken by this server.", func(s *pb.KVReplicationStatus) float64 { return float64(s.FullSyncs) }),
		kvReplCounter("meridian_kv_replication_errors_total", "Failed KV replication rounds on this server.", func(s *pb.KVReplicationStatus) float64 { return float64(s.Errors) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_lan_members_alive", Help: "Alive members of the LAN pool."}, func() float64 {
			return float64(a.NumLANMembers())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_lan_members_failed", Help: "Failed members of the LAN pool."}, func() float64 {
			n := 0
			if a.lan != nil {
				for _, m := range a.lan.Members() {
					if m.Status == lan.StatusFailed {
						n++
					}
				}
			}
			return float64(n)
		}),
	)
	return m
}

// instrument counts a route's requests and their latency.
func (m *agentMetrics) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer
// (streams clear their write deadline through it).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush keeps streaming responses working through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// agentMetricsHandler serves /v1/agent/metrics: Prometheus text with
// ?format=prometheus, else Consul's JSON summary (gauges only).
func (a *Agent) agentMetricsHandler(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.URL.Query().Get("format") == "prometheus" {
		promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		return nil, nil
	}
	families, err := a.metrics.registry.Gather()
	if err != nil {
		return nil, err
	}
	type gauge struct {
		Name   string
		Value  float64
		Labels map[string]string
	}
	gauges := []gauge{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if g := m.GetGauge(); g != nil {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				gauges = append(gauges, gauge{Name: f.GetName(), Value: g.GetValue(), Labels: labels})
			}
		}
	}
	return map[string]any{
		"Timestamp": time.Now().UTC().Format("2006-01-02 15:04:05 -0700 MST"),
		"Gauges":    gauges, "Points": []any{}, "Counters": []any{}, "Samples": []any{},
	}, nil
}

package agent

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/telemetry"
	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/pb"
)

// agentMetrics are what the agent exports at /v1/agent/metrics: its own
// Prometheus families (registry, computed when scraped) and what goes
// through the telemetry sink (Raft, disk, gossip and RPC events, in
// sinkReg for Prometheus, in the sink's summary for JSON, and to statsd).
type agentMetrics struct {
	prefix   string
	registry *prometheus.Registry
	sinkReg  *prometheus.Registry
	sink     *telemetry.Sink
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// pushed are the registry's gauges that statsd gets every
	// gaugePushInterval.
	pushed []pushedGauge
	tables tableSizes
}

// pushedGauge is a gauge computed when read.
type pushedGauge struct {
	key    []string
	labels []telemetry.Label
	value  func() float64
}

// gaugePushInterval is how often gauges computed on scrape go to statsd.
const gaugePushInterval = 10 * time.Second

func newAgentMetrics(a *Agent) *agentMetrics {
	tc := a.cfg.Telemetry
	if tc.MetricsPrefix == "" {
		tc.MetricsPrefix = config.DefaultMetricsPrefix
	}
	prefix := tc.MetricsPrefix
	reg := prometheus.NewRegistry()
	m := &agentMetrics{
		prefix:   prefix,
		registry: reg,
		sinkReg:  prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_http_requests_total", Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "_http_request_duration_seconds", Help: "HTTP API latency by route (blocking queries included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 10, 60, 600},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_http_requests_in_flight", Help: "HTTP API requests being served now (held blocking queries included).",
		}),
	}
	sink, err := telemetry.New(telemetry.Config{
		Prefix:          prefix,
		HostName:        a.cfg.NodeName,
		DisableHostname: tc.DisableHostname,
		Retention:       tc.PrometheusRetentionTime,
		StatsdAddr:      tc.StatsdAddress,
		Registerer:      m.sinkReg,
	})
	if err != nil {
		// Only a registration clash in a fresh registry gets here.
		a.log.Error("telemetry sink unavailable; raft, gossip and rpc metrics are not recorded", "error", err)
	}
	m.sink = sink
	raftGauge := func(name, help, stat string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: prefix + name, Help: help}, func() float64 {
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
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: prefix + name, Help: help}, kvRepl(get))
	}
	kvReplCounter := func(name, help string, get func(*pb.KVReplicationStatus) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: prefix + name, Help: help}, kvRepl(get))
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.inFlight,
		raftGauge("_raft_last_log_index", "Last index in the Raft log.", "last_log_index"),
		raftGauge("_raft_commit_index", "Raft commit index.", "commit_index"),
		raftGauge("_raft_applied_index", "Last index applied to the state store.", "applied_index"),
		raftGauge("_raft_num_peers", "Raft peers besides this server.", "num_peers"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: prefix + "_raft_leader", Help: "1 if this server is the Raft leader."}, func() float64 {
			if a.server != nil && a.server.IsLeader() {
				return 1
			}
			return 0
		}),
		kvReplGauge("_kv_replication_running", "1 while this server (the leader) replicates KV from the source datacenter.", func(s *pb.KVReplicationStatus) float64 {
			if s.Running {
				return 1
			}
			return 0
		}),
		kvReplGauge("_kv_replication_source_index", "Newest index of the source datacenter seen by KV replication.", func(s *pb.KVReplicationStatus) float64 { return float64(s.SourceIndex) }),
		kvReplGauge("_kv_replication_applied_index", "Source index up to which replicated KV changes are applied.", func(s *pb.KVReplicationStatus) float64 { return float64(s.AppliedIndex) }),
		kvReplGauge("_kv_replication_lag_entries", "Replicated KV changes fetched but not applied yet.", func(s *pb.KVReplicationStatus) float64 { return float64(s.LagEntries) }),
		kvReplGauge("_kv_replication_lag_seconds", "Seconds since KV replication was last known to be in step (0 while it is).", func(s *pb.KVReplicationStatus) float64 { return s.LagSeconds }),
		kvReplCounter("_kv_replication_entries_transferred_total", "KV entries and deletions received from the source datacenter by this server.", func(s *pb.KVReplicationStatus) float64 { return float64(s.EntriesTransferred) }),
		kvReplCounter("_kv_replication_full_syncs_total", "Full copies of the replicated prefixes taken by this server.", func(s *pb.KVReplicationStatus) float64 { return float64(s.FullSyncs) }),
		kvReplCounter("_kv_replication_errors_total", "Failed KV replication rounds on this server.", func(s *pb.KVReplicationStatus) float64 { return float64(s.Errors) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: prefix + "_lan_members_alive", Help: "Alive members of the LAN pool."}, func() float64 {
			return float64(a.NumLANMembers())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: prefix + "_lan_members_failed", Help: "Failed members of the LAN pool."}, func() float64 {
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
	m.registerGauges(a)
	return m
}

// instrument counts a route's requests and their latency.
// The route's latency and its count of 200s, its usual code, are looked up
// once, at the first request (a series appears only once it counts
// something): the label lookups were 2% of a read's CPU.
func (m *agentMetrics) instrument(route string, next http.Handler) http.Handler {
	var latency atomic.Pointer[prometheus.Observer]
	var ok atomic.Pointer[prometheus.Counter]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		m.inFlight.Inc()
		next.ServeHTTP(rec, r)
		m.inFlight.Dec()
		if rec.code == http.StatusOK {
			c := ok.Load()
			if c == nil {
				v := m.requests.WithLabelValues(route, "200")
				c = &v
				ok.Store(c)
			}
			(*c).Inc()
		} else {
			m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		}
		o := latency.Load()
		if o == nil {
			v := m.latency.WithLabelValues(route)
			o = &v
			latency.Store(o)
		}
		(*o).Observe(time.Since(start).Seconds())
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
// ?format=prometheus, else Consul's JSON summary: the telemetry sink's
// last finished 10 s interval (counters and samples, dotted names) plus
// the gauges of the agent's own families.
func (a *Agent) agentMetricsHandler(w http.ResponseWriter, r *http.Request) (any, error) {
	m := a.metrics
	if query(r).Get("format") == "prometheus" {
		promhttp.HandlerFor(prometheus.Gatherers{m.registry, m.sinkReg}, promhttp.HandlerOpts{
			// A family that fails to gather (it never should) costs
			// itself, not the scrape.
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      promErrorLog{a.log},
		}).ServeHTTP(w, r)
		return nil, nil
	}
	sum, err := m.sink.Summary()
	if err != nil {
		sum = telemetry.MetricsSummary{Timestamp: time.Now().UTC().Format("2006-01-02 15:04:05 -0700 MST")}
	}
	families, err := m.registry.Gather()
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			if g := mt.GetGauge(); g != nil {
				labels := map[string]string{}
				for _, l := range mt.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				sum.Gauges = append(sum.Gauges, telemetry.GaugeValue{Name: f.GetName(), Value: float32(g.GetValue()), DisplayLabels: labels})
			}
		}
	}
	if sum.Gauges == nil {
		sum.Gauges = []telemetry.GaugeValue{}
	}
	if sum.Points == nil {
		sum.Points = []telemetry.PointValue{}
	}
	if sum.Counters == nil {
		sum.Counters = []telemetry.SampledValue{}
	}
	if sum.Samples == nil {
		sum.Samples = []telemetry.SampledValue{}
	}
	return sum, nil
}

// promErrorLog sends promhttp's gathering errors to the agent's log.
type promErrorLog struct{ log *slog.Logger }

func (l promErrorLog) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

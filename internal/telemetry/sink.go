package telemetry

import (
	"errors"
	"fmt"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	promsink "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// Label is a metric label (name and value).
type Label = metrics.Label

// Config configures one agent's Sink.
type Config struct {
	// Prefix starts every metric key ("meridian").
	Prefix string
	// HostName is inserted after the prefix in gauge keys sent to statsd
	// and the in-memory summary, unless DisableHostname.
	HostName        string
	DisableHostname bool
	// Retention is how long a Prometheus series fed by this Sink is kept
	// after its last update; 0 keeps it for good.
	Retention time.Duration
	// StatsdAddr, host:port, gets every metric over UDP; "" sends none.
	StatsdAddr string
	// Registerer receives the Prometheus collector; nil registers none.
	Registerer prometheus.Registerer
	// InmemInterval and InmemRetain size the in-memory summary (10 s
	// intervals kept for a minute when zero, as in Consul).
	InmemInterval, InmemRetain time.Duration
}

// Sink is one agent's metrics: every method is safe for concurrent use
// and a no-op on a nil *Sink or after Close.
type Sink struct {
	cfg   Config
	m     *metrics.Metrics
	inmem *metrics.InmemSink

	mu     sync.RWMutex // held for reading while emitting; Close takes it to stop
	closed bool
	// Tallies and the goroutine that flushes them (started by the first).
	tallies              []*Tally
	tallyStop, tallyDone chan struct{}
	// Timers, and the collector of their Prometheus summaries (nil
	// without a Registerer).
	timers    []*Timer
	timerColl prometheus.Collector
	statsd    *metrics.StatsdSink
	prom      *promsink.PrometheusSink
}

// New builds a Sink and, with a Registerer, registers its Prometheus
// collector there. It starts a goroutine only for statsd (stopped by
// Close). Library metrics reach it once it is attached (Attach).
func New(cfg Config) (*Sink, error) {
	if cfg.Prefix == "" {
		return nil, errors.New("telemetry: a metrics prefix is required")
	}
	if cfg.InmemInterval <= 0 {
		cfg.InmemInterval = 10 * time.Second
	}
	if cfg.InmemRetain <= 0 {
		cfg.InmemRetain = time.Minute
	}
	s := &Sink{cfg: cfg, inmem: metrics.NewInmemSink(cfg.InmemInterval, cfg.InmemRetain)}
	var fan metrics.FanoutSink
	if cfg.Registerer != nil {
		p, err := promsink.NewPrometheusSinkFrom(promsink.PrometheusOpts{
			Expiration: cfg.Retention,
			Registerer: cfg.Registerer,
			Name:       cfg.Prefix + "_metrics_sink",
		})
		if err != nil {
			return nil, fmt.Errorf("telemetry: register prometheus collector: %w", err)
		}
		s.prom = p
		fan = append(fan, p)
		s.timerColl = timerCollector{s}
		if err := cfg.Registerer.Register(s.timerColl); err != nil {
			cfg.Registerer.Unregister(p)
			return nil, fmt.Errorf("telemetry: register prometheus collector: %w", err)
		}
	}
	var pushed metrics.FanoutSink = metrics.FanoutSink{s.inmem}
	if cfg.StatsdAddr != "" {
		st, err := metrics.NewStatsdSink(cfg.StatsdAddr)
		if err != nil {
			return nil, fmt.Errorf("telemetry: statsd sink: %w", err)
		}
		s.statsd = st
		pushed = append(pushed, st)
	}
	if cfg.DisableHostname || cfg.HostName == "" {
		fan = append(fan, pushed)
	} else {
		fan = append(fan, hostGauges{host: cfg.HostName, next: pushed})
	}
	mc := metrics.DefaultConfig(cfg.Prefix)
	mc.EnableHostname = false // hostGauges inserts it where it belongs
	mc.EnableRuntimeMetrics = false
	mc.HostName = ""
	m, err := metrics.New(mc, fan)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	s.m = m
	return s, nil
}

// Close detaches the Sink from the library metrics, stops statsd and
// unregisters the Prometheus collector from reg (nil: leaves it).
func (s *Sink) Close(reg prometheus.Registerer) {
	if s == nil {
		return
	}
	detach(s)
	s.mu.Lock()
	stop, done := s.tallyStop, s.tallyDone
	s.tallyStop = nil
	s.mu.Unlock()
	if stop != nil { // the last counts go out before the sinks close
		close(stop)
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.statsd != nil {
		s.statsd.Shutdown()
	}
	if reg != nil && s.prom != nil {
		reg.Unregister(s.prom)
		reg.Unregister(s.timerColl)
	}
}

func (s *Sink) live() bool { return s != nil && !s.closed }

// IncrCounter adds val to the counter key.
func (s *Sink) IncrCounter(key []string, val float32, labels ...Label) {
	if s == nil {
		return
	}
	s.emitCounter(key, val, labels...)
}

func (s *Sink) emitCounter(key []string, val float32, labels ...Label) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.live() {
		s.m.IncrCounterWithLabels(key, val, labels)
	}
}

// MeasureSince records the time since start, in milliseconds, as a
// sample of the timer key.
func (s *Sink) MeasureSince(key []string, start time.Time, labels ...Label) {
	if s == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.live() {
		s.m.MeasureSinceWithLabels(key, start, labels)
	}
}

// AddSample records val as a sample of key.
func (s *Sink) AddSample(key []string, val float32, labels ...Label) {
	if s == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.live() {
		s.m.AddSampleWithLabels(key, val, labels)
	}
}

// SetGauge sets the gauge key to val.
func (s *Sink) SetGauge(key []string, val float32, labels ...Label) {
	if s == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.live() {
		s.m.SetGaugeWithLabels(key, val, labels)
	}
}

// PushGauge sends the gauge key = val to statsd only (if configured):
// for gauges that Prometheus and the JSON summary compute when read.
func (s *Sink) PushGauge(key []string, val float32, labels ...Label) {
	if s == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.live() {
		return
	}
	full := append([]string{s.cfg.Prefix}, key...)
	if !s.cfg.DisableHostname && s.cfg.HostName != "" {
		full = insertHost(full, s.cfg.HostName)
	}
	if s.statsd != nil {
		s.statsd.SetGaugeWithLabels(full, val, labels)
	}
}

// Summary is the in-memory sink's latest finished interval (the current
// one until one has finished), in Consul's JSON shape.
func (s *Sink) Summary() (MetricsSummary, error) {
	if s == nil {
		return metrics.MetricsSummary{}, errors.New("telemetry: no sink")
	}
	v, err := s.inmem.DisplayMetrics(nil, nil)
	if err != nil {
		return metrics.MetricsSummary{}, err
	}
	sum, ok := v.(metrics.MetricsSummary)
	if !ok {
		return metrics.MetricsSummary{}, fmt.Errorf("telemetry: unexpected summary %T", v)
	}
	return s.withTimers(sum), nil
}

// HasStatsd reports whether metrics go to statsd.
func (s *Sink) HasStatsd() bool { return s != nil && s.statsd != nil }

// hostGauges inserts the host name after the prefix of gauge keys, as
// go-metrics' EnableHostname does, for the sinks that need it.
type hostGauges struct {
	host string
	next metrics.MetricSink
}

func insertHost(key []string, host string) []string {
	out := make([]string, 0, len(key)+1)
	out = append(out, key[0], host)
	return append(out, key[1:]...)
}

func (h hostGauges) SetGauge(key []string, val float32) {
	h.next.SetGauge(insertHost(key, h.host), val)
}
func (h hostGauges) SetGaugeWithLabels(key []string, val float32, labels []Label) {
	h.next.SetGaugeWithLabels(insertHost(key, h.host), val, labels)
}
func (h hostGauges) EmitKey(key []string, val float32)     { h.next.EmitKey(key, val) }
func (h hostGauges) IncrCounter(key []string, val float32) { h.next.IncrCounter(key, val) }
func (h hostGauges) IncrCounterWithLabels(key []string, val float32, labels []Label) {
	h.next.IncrCounterWithLabels(key, val, labels)
}
func (h hostGauges) AddSample(key []string, val float32) { h.next.AddSample(key, val) }
func (h hostGauges) AddSampleWithLabels(key []string, val float32, labels []Label) {
	h.next.AddSampleWithLabels(key, val, labels)
}

// Summary types of the JSON form of /v1/agent/metrics (Consul's).
type (
	MetricsSummary = metrics.MetricsSummary
	GaugeValue     = metrics.GaugeValue
	PointValue     = metrics.PointValue
	SampledValue   = metrics.SampledValue
)

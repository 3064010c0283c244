package telemetry

import (
	"sync"

	metrics "github.com/hashicorp/go-metrics/compat"
)

// dispatch is the sink installed as go-metrics' global: it hands what the
// libraries emit to every attached Sink.
type dispatch struct {
	mu    sync.RWMutex
	sinks map[*Sink]metrics.MetricSink
}

var (
	global     = &dispatch{sinks: map[*Sink]metrics.MetricSink{}}
	globalOnce sync.Once
)

// Attach makes s receive the metrics that hashicorp/raft, raft-boltdb,
// serf and memberlist emit in this process, until s is closed. The first
// call installs the dispatcher as go-metrics' global sink.
func Attach(s *Sink) {
	if s == nil {
		return
	}
	globalOnce.Do(func() {
		mc := metrics.DefaultConfig("")
		mc.EnableHostname = false
		mc.EnableRuntimeMetrics = false
		mc.HostName = ""
		_, _ = metrics.NewGlobal(mc, global)
	})
	global.mu.Lock()
	global.sinks[s] = s.library()
	global.mu.Unlock()
}

// detach stops s receiving library metrics; once it returns, no library
// metric is being delivered to s.
func detach(s *Sink) {
	global.mu.Lock()
	delete(global.sinks, s)
	global.mu.Unlock()
}

// perPeer reports keys hashicorp/raft also emits with the peer's ID as
// the last part of the name (once more besides the labelled series): one
// family per peer in Prometheus; the labelled series carry the same.
func perPeer(key []string) bool {
	if len(key) < 4 || key[0] != "raft" || key[1] != "replication" {
		return false
	}
	switch key[2] {
	case "heartbeat", "installSnapshot":
		return len(key) == 4
	case "appendEntries":
		return len(key) == 5
	}
	return false
}

func (d *dispatch) each(key []string, fn func(metrics.MetricSink)) {
	if perPeer(key) {
		return
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, s := range d.sinks {
		fn(s)
	}
}

func (d *dispatch) SetGauge(key []string, val float32) {
	d.each(key, func(s metrics.MetricSink) { s.SetGauge(key, val) })
}

func (d *dispatch) SetGaugeWithLabels(key []string, val float32, labels []Label) {
	d.each(key, func(s metrics.MetricSink) { s.SetGaugeWithLabels(key, val, labels) })
}

func (d *dispatch) EmitKey(key []string, val float32) {}

func (d *dispatch) IncrCounter(key []string, val float32) {
	d.each(key, func(s metrics.MetricSink) { s.IncrCounter(key, val) })
}

func (d *dispatch) IncrCounterWithLabels(key []string, val float32, labels []Label) {
	d.each(key, func(s metrics.MetricSink) { s.IncrCounterWithLabels(key, val, labels) })
}

func (d *dispatch) AddSample(key []string, val float32) {
	d.each(key, func(s metrics.MetricSink) { s.AddSample(key, val) })
}

func (d *dispatch) AddSampleWithLabels(key []string, val float32, labels []Label) {
	d.each(key, func(s metrics.MetricSink) { s.AddSampleWithLabels(key, val, labels) })
}

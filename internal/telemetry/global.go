package telemetry

import (
	"slices"
	"sync"

	metrics "github.com/hashicorp/go-metrics/compat"
)

// AgentLabel is the label a gossip pool puts on its metrics (with
// AgentID) so that they reach only its own agent's Sink; the dispatcher
// removes it.
const AgentLabel = "meridian_agent"

// AgentID names an agent among those of a process.
func AgentID(datacenter, node string) string { return datacenter + "/" + node }

// dispatch is the sink installed as go-metrics' global: it hands what the
// libraries emit to the attached Sinks. Gossip metrics carry AgentLabel
// and go to that agent's Sink alone; the others (Raft and its disk, which
// only servers run) go to every server's Sink.
type dispatch struct {
	mu      sync.RWMutex
	byID    map[string]*Sink
	servers []*Sink
}

var (
	global     = &dispatch{byID: map[string]*Sink{}}
	globalOnce sync.Once
)

// Attach makes s receive, until it is closed, the metrics that
// hashicorp/raft, raft-boltdb, serf and memberlist emit in this process:
// its gossip pools' own (labelled with id) and, if its agent is a server,
// Raft's and raft-boltdb's. The first call installs the dispatcher as
// go-metrics' global sink.
func Attach(s *Sink, id string, server bool) {
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
	defer global.mu.Unlock()
	global.byID[id] = s
	if server && !slices.Contains(global.servers, s) {
		global.servers = append(global.servers, s)
	}
}

// detach stops s receiving library metrics; once it returns, no library
// metric is being delivered to s.
func detach(s *Sink) {
	global.mu.Lock()
	defer global.mu.Unlock()
	for id, v := range global.byID {
		if v == s {
			delete(global.byID, id)
		}
	}
	global.servers = slices.DeleteFunc(global.servers, func(v *Sink) bool { return v == s })
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

// deliver calls fn with the Sink an emission goes to and its labels (less
// AgentLabel), if any Sink takes it.
func (d *dispatch) deliver(key []string, labels []Label, fn func(s *Sink, labels []Label)) {
	if perPeer(key) {
		return
	}
	i := slices.IndexFunc(labels, func(l Label) bool { return l.Name == AgentLabel })
	d.mu.RLock()
	defer d.mu.RUnlock()
	if i >= 0 {
		if s := d.byID[labels[i].Value]; s != nil {
			fn(s, slices.Delete(slices.Clone(labels), i, i+1))
		}
		return
	}
	for _, s := range d.servers {
		fn(s, labels)
	}
}

func (d *dispatch) SetGauge(key []string, val float32) { d.SetGaugeWithLabels(key, val, nil) }

func (d *dispatch) SetGaugeWithLabels(key []string, val float32, labels []Label) {
	d.deliver(key, labels, func(s *Sink, l []Label) { s.SetGauge(key, val, l...) })
}

func (d *dispatch) EmitKey(key []string, val float32) {}

func (d *dispatch) IncrCounter(key []string, val float32) { d.IncrCounterWithLabels(key, val, nil) }

func (d *dispatch) IncrCounterWithLabels(key []string, val float32, labels []Label) {
	d.deliver(key, labels, func(s *Sink, l []Label) { s.IncrCounter(key, val, l...) })
}

func (d *dispatch) AddSample(key []string, val float32) { d.AddSampleWithLabels(key, val, nil) }

func (d *dispatch) AddSampleWithLabels(key []string, val float32, labels []Label) {
	d.deliver(key, labels, func(s *Sink, l []Label) { s.AddSample(key, val, l...) })
}

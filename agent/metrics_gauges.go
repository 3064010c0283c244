package agent

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/internal/telemetry"
	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/store"
)

// tableSizesMaxAge bounds how often the state store's tables are walked
// to count their rows.
const tableSizesMaxAge = 5 * time.Second

// tableSizes caches store.TableSizes.
type tableSizes struct {
	mu    sync.Mutex
	at    time.Time
	sizes map[string]int
}

func (t *tableSizes) get(st *store.Store) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sizes == nil || time.Since(t.at) > tableSizesMaxAge {
		t.sizes, t.at = st.TableSizes(), time.Now()
	}
	return t.sizes
}

var gaugeNameReplacer = strings.NewReplacer(".", "_", "-", "_", " ", "_", "/", "_", "=", "_")

// gauge registers a gauge computed when read: a Prometheus family named
// prefix_key (one series per label set) that statsd also gets.
func (m *agentMetrics) gauge(key []string, help string, labels []telemetry.Label, value func() float64) {
	name := gaugeNameReplacer.Replace(m.prefix + "_" + strings.Join(key, "_"))
	constLabels := prometheus.Labels{}
	for _, l := range labels {
		constLabels[l.Name] = l.Value
	}
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels}, value))
	m.pushed = append(m.pushed, pushedGauge{key: key, labels: labels, value: value})
}

// memberStatuses are the gossip statuses the member gauges count.
var memberStatuses = []lan.Status{lan.StatusAlive, lan.StatusLeaving, lan.StatusLeft, lan.StatusFailed}

// registerGauges adds the gauges of blocking queries, gossip members,
// checks and state store tables.
func (m *agentMetrics) registerGauges(a *Agent) {
	m.gauge([]string{"rpc", "queries_blocking"}, "Blocking queries this server is waiting on.", nil, func() float64 {
		if a.server == nil {
			return 0
		}
		return float64(a.server.BlockingQueries())
	})
	for _, network := range []string{"lan", "wan"} {
		for _, st := range memberStatuses {
			labels := []telemetry.Label{{Name: "network", Value: network}, {Name: "status", Value: string(st)}}
			m.gauge([]string{"serf", "members"}, "Members of the agent's gossip pools by status (wan: servers only).", labels, func() float64 {
				var members []lan.Member
				switch {
				case network == "lan" && a.lan != nil:
					members = a.lan.Members()
				case network == "wan" && a.wan != nil:
					members = a.wan.Members()
				}
				n := 0
				for _, mb := range members {
					if mb.Status == st {
						n++
					}
				}
				return float64(n)
			})
		}
	}
	for _, state := range []string{health.StatusPassing, health.StatusWarning, health.StatusCritical} {
		labels := []telemetry.Label{{Name: "state", Value: state}}
		m.gauge([]string{"agent", "checks"}, "Checks registered on this agent by state.", labels, func() float64 {
			if a.local == nil {
				return 0
			}
			n := 0
			for _, c := range a.local.State().Checks() {
				if c.GetStatus() == state {
					n++
				}
			}
			return float64(n)
		})
		m.gauge([]string{"state", "checks"}, "Checks in this server's catalog (every node of the datacenter) by state.", labels, func() float64 {
			if a.server == nil {
				return 0
			}
			return float64(a.server.Store().ChecksByStatus()[state])
		})
	}
	m.gauge([]string{"state", "kv_value_bytes"}, "Bytes in the files that hold this server's KV values: unlinked files of its data directory, rebuilt on each start (dead bytes of overwritten values included).", nil, func() float64 {
		if a.server == nil {
			return 0
		}
		_, n := a.server.Store().ValueLogUsage()
		return float64(n)
	})
	m.gauge([]string{"state", "kv_value_files"}, "Files that hold this server's KV values, those older readers still hold included.", nil, func() float64 {
		if a.server == nil {
			return 0
		}
		n, _ := a.server.Store().ValueLogUsage()
		return float64(n)
	})
	for _, table := range store.Tables() {
		labels := []telemetry.Label{{Name: "table", Value: table}}
		m.gauge([]string{"state", "table_rows"}, "Rows in each table of this server's state store (counted at most every 5 s).", labels, func() float64 {
			if a.server == nil {
				return 0
			}
			return float64(m.tables.get(a.server.Store())[table])
		})
	}
}

// pushGauges sends every computed gauge to statsd now and every
// gaugePushInterval until the agent stops. It returns at once without
// statsd.
func (m *agentMetrics) pushGauges(a *Agent, interval time.Duration) {
	if !m.sink.HasStatsd() {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			for _, g := range m.pushed {
				m.sink.PushGauge(g.key, float32(g.value()), g.labels...)
			}
			select {
			case <-t.C:
			case <-a.ctx.Done():
				return
			}
		}
	}()
}

// close detaches the sink: nothing is recorded or sent afterwards.
func (m *agentMetrics) close() {
	if m != nil {
		m.sink.Close(m.sinkReg)
	}
}

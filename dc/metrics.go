package dc

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/telemetry"
)

// Metric keys the server emits (the agent's prefix comes first), Consul's
// where Consul has one.
var (
	keyRPCRequest    = []string{"rpc", "request"}
	keyRPCCall       = []string{"rpc", "server", "call"}
	keyRPCQuery      = []string{"rpc", "query"}
	keyRPCCrossDC    = []string{"rpc", "cross-dc"}
	keyRPCCrossDCRTT = []string{"rpc", "cross-dc", "call"}
	keyLeaderChanges = []string{"raft", "leader", "changes"}
)

// rpcMetrics records one call of an RPC endpoint: its count and how long
// it took (a blocking query's wait included), by method and outcome.
func (s *Server) rpcMetrics(method string, start time.Time, err error) {
	m := s.deps.Metrics
	if m == nil {
		return
	}
	errored := "false"
	if err != nil {
		errored = "true"
	}
	s.rpcRequests.Add(method)
	s.rpcCalls.MeasureSince(start, method, errored)
}

// crossDCMetrics records one call sent to a server of another datacenter.
func (s *Server) crossDCMetrics(dc, method string, start time.Time, err error) {
	m := s.deps.Metrics
	if m == nil {
		return
	}
	errored := "false"
	if err != nil {
		errored = "true"
	}
	m.IncrCounter(keyRPCCrossDC, 1,
		telemetry.Label{Name: "datacenter", Value: dc}, telemetry.Label{Name: "method", Value: method})
	m.MeasureSince(keyRPCCrossDCRTT, start,
		telemetry.Label{Name: "datacenter", Value: dc}, telemetry.Label{Name: "method", Value: method},
		telemetry.Label{Name: "errored", Value: errored})
}

// BlockingQueries is the number of blocking queries this server is
// waiting on now.
func (s *Server) BlockingQueries() int64 { return s.blocking.Load() }

// observeLeaders counts every new leader this server learns of (an
// election without a result counts nothing), until shutdown.
func (s *Server) observeLeaders() {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(obs)
	defer s.raft.DeregisterObserver(obs)
	// A leader elected before the observer was registered counts too.
	_, last := s.raft.LeaderWithID()
	if last != "" {
		s.deps.Metrics.IncrCounter(keyLeaderChanges, 1)
	}
	for {
		select {
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderID != last {
				if lo.LeaderID != "" {
					s.deps.Metrics.IncrCounter(keyLeaderChanges, 1)
				}
				last = lo.LeaderID
			}
		case <-s.shutdownCh:
			return
		}
	}
}

package dc

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
)

// AutopilotConfig is autopilot's configuration as a server starts with it
// (the agent's autopilot block). Once one is set through the API it is
// stored in Raft and every server uses that one instead.
type AutopilotConfig struct {
	// CleanupDeadServers removes servers that the LAN pool has seen
	// failed for ServerStabilizationTime from the Raft configuration.
	CleanupDeadServers bool
	// LastContactThreshold is the longest a healthy server may go without
	// hearing from the leader.
	LastContactThreshold time.Duration
	// MaxTrailingLogs is how far behind the leader's log a healthy server
	// may be.
	MaxTrailingLogs uint64
	// MinQuorum is the fewest voters dead-server cleanup leaves.
	MinQuorum uint
	// ServerStabilizationTime is how long a server must be failed before
	// it is removed (and how long a health state must last to be stable).
	ServerStabilizationTime time.Duration
}

// DefaultAutopilotConfig is Consul's default.
func DefaultAutopilotConfig() AutopilotConfig {
	return AutopilotConfig{
		CleanupDeadServers:      true,
		LastContactThreshold:    200 * time.Millisecond,
		MaxTrailingLogs:         250,
		ServerStabilizationTime: 10 * time.Second,
	}
}

func (c AutopilotConfig) toProto() *pb.AutopilotConfig {
	return &pb.AutopilotConfig{
		CleanupDeadServers:           c.CleanupDeadServers,
		LastContactThresholdNanos:    int64(c.LastContactThreshold),
		MaxTrailingLogs:              c.MaxTrailingLogs,
		MinQuorum:                    uint32(c.MinQuorum),
		ServerStabilizationTimeNanos: int64(c.ServerStabilizationTime),
	}
}

// Serf's words for a member's status, as autopilot reports them.
var serfStatusNames = map[MemberStatus]string{
	StatusNone: "none", StatusAlive: "alive", StatusLeaving: "leaving", StatusLeft: "left", StatusFailed: "failed",
}

// autopilotState is the leader's autopilot: the last state it computed
// and what it remembers between passes. A new leader starts afresh.
type autopilotState struct {
	// mu serialises passes (the loop's and an RPC's on a fresh leader).
	mu          sync.Mutex
	last        *pb.AutopilotStateResponse
	healthy     map[string]bool
	stableSince map[string]time.Time
	// failedSince is when the LAN pool was first seen reporting a Raft
	// server failed (or no longer listing it).
	failedSince map[string]time.Time
	// stats are the last stats each server answered, and when.
	stats map[string]serverStats
	// warned remembers the last refusal logged, so it is logged once.
	warned string
}

func (a *autopilotState) resetLocked() {
	a.last = nil
	a.healthy = map[string]bool{}
	a.stableSince = map[string]time.Time{}
	a.failedSince = map[string]time.Time{}
	a.stats = map[string]serverStats{}
	a.warned = ""
}

// autopilotConfig is the configuration in force: the stored one, else
// this server's own.
func (s *Server) autopilotConfig() *pb.AutopilotConfig {
	if c := s.store.AutopilotConfig(); c != nil {
		return c
	}
	return s.cfg.Autopilot.toProto()
}

// runAutopilot is the leader's autopilot loop: every AutopilotInterval it
// refreshes the servers' health and removes dead servers, until ctx ends.
func (s *Server) runAutopilot(ctx context.Context) {
	defer func() {
		s.autopilot.mu.Lock()
		s.autopilot.resetLocked()
		s.autopilot.mu.Unlock()
	}()
	for {
		conf := s.autopilotConfig()
		st := s.refreshAutopilot(ctx, conf)
		if st != nil && conf.CleanupDeadServers {
			s.pruneDeadServers(st, conf)
		}
		tick, timer := clock.After(s.clock, s.cfg.AutopilotInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-tick:
		}
	}
}

// autopilotStateNow is the leader's last autopilot state, computed now if
// there is none yet (leadership just taken).
func (s *Server) autopilotStateNow(ctx context.Context) *pb.AutopilotStateResponse {
	s.autopilot.mu.Lock()
	last := s.autopilot.last
	s.autopilot.mu.Unlock()
	if last != nil {
		return proto.Clone(last).(*pb.AutopilotStateResponse)
	}
	return s.refreshAutopilot(ctx, s.autopilotConfig())
}

// serverStats are what a server says of its own Raft state.
type serverStats struct {
	ok          bool
	hasStats    bool
	lastTerm    uint64
	lastIndex   uint64
	lastContact time.Duration
	at          time.Time
}

// refreshAutopilot asks every server for its Raft stats, judges their
// health and stores the result; nil if the Raft configuration cannot be
// read.
func (s *Server) refreshAutopilot(ctx context.Context, conf *pb.AutopilotConfig) *pb.AutopilotStateResponse {
	s.autopilot.mu.Lock()
	defer s.autopilot.mu.Unlock()
	if s.autopilot.healthy == nil {
		s.autopilot.resetLocked()
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		s.log.Warn("autopilot: read raft configuration", "error", err)
		return nil
	}
	servers := f.Configuration().Servers
	members := map[string]Member{}
	for _, m := range s.deps.Membership.Members() {
		if m.Server && m.ID != "" && m.Datacenter == s.cfg.Datacenter {
			members[m.ID] = m
		}
	}
	stats := s.fetchServerStats(ctx, servers)
	self := s.cfg.NodeID
	leaderTerm, _ := strconv.ParseUint(s.raft.Stats()["last_log_term"], 10, 64)
	leaderIndex := s.raft.LastIndex()
	now := s.clock.Now()
	st := &pb.AutopilotStateResponse{Leader: self}
	healthyVoters, voters := 0, 0
	seen := map[string]bool{}
	for _, srv := range servers {
		id := string(srv.ID)
		seen[id] = true
		m, inPool := members[id]
		out := &pb.AutopilotServer{
			Id: id, Name: m.Name, Address: string(srv.Address), SerfStatus: serfStatusNames[m.Status],
			Version: m.Build, Leader: id == self, Voter: srv.Suffrage == raft.Voter,
		}
		if !inPool {
			out.SerfStatus = serfStatusNames[StatusNone]
		}
		if out.Leader {
			out.Name, out.Version, out.SerfStatus = s.cfg.NodeName, s.cfg.Version, serfStatusNames[StatusAlive]
			out.LastTerm, out.LastIndex = leaderTerm, leaderIndex
		} else {
			x, fresh := stats[id]
			if fresh {
				x.at = now
				s.autopilot.stats[id] = x
			} else if x = s.autopilot.stats[id]; x.ok {
				// Not reachable now: what it said last, aged.
				x.lastContact += now.Sub(x.at)
			}
			switch {
			case !x.ok:
				out.LastContactNanos = -1
			case !x.hasStats:
				// A server of an earlier version tells its index only.
				out.LastTerm, out.LastIndex = leaderTerm, x.lastIndex
			default:
				out.LastTerm, out.LastIndex, out.LastContactNanos = x.lastTerm, x.lastIndex, int64(x.lastContact)
			}
		}
		out.Healthy = serverHealthy(out, leaderTerm, leaderIndex, conf)
		if was, ok := s.autopilot.healthy[id]; !ok || was != out.Healthy {
			s.autopilot.stableSince[id] = now
		}
		s.autopilot.healthy[id] = out.Healthy
		out.StableSinceUnixNano = s.autopilot.stableSince[id].UnixNano()
		if out.SerfStatus == serfStatusNames[StatusFailed] || out.SerfStatus == serfStatusNames[StatusNone] {
			if _, ok := s.autopilot.failedSince[id]; !ok {
				s.autopilot.failedSince[id] = now
			}
		} else {
			delete(s.autopilot.failedSince, id)
		}
		if out.Voter {
			voters++
			if out.Healthy {
				healthyVoters++
			}
		}
		st.Servers = append(st.Servers, out)
	}
	for id := range s.autopilot.healthy {
		if !seen[id] {
			delete(s.autopilot.healthy, id)
			delete(s.autopilot.stableSince, id)
			delete(s.autopilot.failedSince, id)
			delete(s.autopilot.stats, id)
		}
	}
	st.Healthy = true
	for _, srv := range st.Servers {
		st.Healthy = st.Healthy && srv.Healthy
	}
	if q := voters/2 + 1; healthyVoters > q {
		st.FailureTolerance = int32(healthyVoters - q)
	}
	st.OptimisticFailureTolerance = st.FailureTolerance
	if conf.CleanupDeadServers {
		// Servers failing one at a time are each removed before the next
		// fails: the datacenter goes on down to min_quorum voters (or one).
		st.OptimisticFailureTolerance = int32(max(0, healthyVoters-max(int(conf.MinQuorum), 1)))
	}
	s.autopilot.last = st
	return proto.Clone(st).(*pb.AutopilotStateResponse)
}

// serverHealthy is Consul's rule: alive in the pool, heard from the
// leader within the threshold, on the leader's term, and no more than
// MaxTrailingLogs behind its log.
func serverHealthy(srv *pb.AutopilotServer, leaderTerm, leaderIndex uint64, conf *pb.AutopilotConfig) bool {
	switch {
	case srv.SerfStatus != serfStatusNames[StatusAlive]:
		return false
	case srv.Leader:
		return true
	case srv.LastContactNanos < 0 || srv.LastContactNanos > conf.LastContactThresholdNanos:
		return false
	case srv.LastTerm != leaderTerm:
		return false
	case leaderIndex > conf.MaxTrailingLogs && srv.LastIndex < leaderIndex-conf.MaxTrailingLogs:
		return false
	}
	return true
}

// fetchServerStats asks every other server of the configuration for its
// Raft stats (Status.RaftIndex), in parallel, each bounded by half the
// autopilot interval.
func (s *Server) fetchServerStats(ctx context.Context, servers []raft.Server) map[string]serverStats {
	out := map[string]serverStats{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	timeout := max(s.cfg.AutopilotInterval/2, 100*time.Millisecond)
	for _, srv := range servers {
		if string(srv.ID) == s.cfg.NodeID {
			continue
		}
		wg.Add(1)
		go func(id string, addr string) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			var resp pb.StatusRaftIndexResponse
			if err := s.deps.Pool.Call(cctx, addr, MethodStatusRaftIndex, &pb.StatusRequest{}, &resp); err != nil {
				return
			}
			mu.Lock()
			out[id] = serverStats{ok: true, hasStats: resp.HasStats, lastTerm: resp.LastTerm,
				lastIndex: resp.LastIndex, lastContact: time.Duration(resp.LastContactNanos)}
			mu.Unlock()
		}(string(srv.ID), string(srv.Address))
	}
	wg.Wait()
	return out
}

// pruneDeadServers removes from the Raft configuration the servers the
// LAN pool has reported failed (or no longer lists) for at least the
// stabilization time. It never removes a voter when that would leave
// fewer voters than min_quorum, leave too few live voters for a quorum of
// the rest, or remove a majority of the voters at once.
func (s *Server) pruneDeadServers(st *pb.AutopilotStateResponse, conf *pb.AutopilotConfig) {
	s.autopilot.mu.Lock()
	now := s.clock.Now()
	stab := time.Duration(conf.ServerStabilizationTimeNanos)
	voters, aliveVoters := 0, 0
	var deadVoters, deadOthers []*pb.AutopilotServer
	for _, srv := range st.Servers {
		alive := srv.SerfStatus == serfStatusNames[StatusAlive]
		if srv.Voter {
			voters++
			if alive {
				aliveVoters++
			}
		}
		since, failed := s.autopilot.failedSince[srv.Id]
		if srv.Leader || !failed || now.Sub(since) < stab {
			continue
		}
		if srv.Voter {
			deadVoters = append(deadVoters, srv)
		} else {
			deadOthers = append(deadOthers, srv)
		}
	}
	s.autopilot.mu.Unlock()
	slices.SortFunc(deadVoters, func(a, b *pb.AutopilotServer) int { return strings.Compare(a.Id, b.Id) })
	for _, srv := range deadOthers {
		s.removeDeadServer(srv)
	}
	maxRemoval := (voters - 1) / 2
	for _, srv := range deadVoters {
		var refusal string
		switch {
		case voters-1 < int(conf.MinQuorum):
			refusal = "it would leave fewer voters than min_quorum"
		case aliveVoters < (voters-1)/2+1:
			refusal = "the remaining voters would not have a quorum"
		case maxRemoval < 1:
			refusal = "removing a majority of the voters at once is not safe"
		}
		if refusal != "" {
			s.warnOnce("autopilot: not removing failed server: "+refusal, "server", srv.Name, "id", srv.Id,
				"voters", voters, "min_quorum", conf.MinQuorum)
			return
		}
		if !s.removeDeadServer(srv) {
			return
		}
		voters--
		maxRemoval--
	}
}

func (s *Server) removeDeadServer(srv *pb.AutopilotServer) bool {
	s.log.Info("autopilot: removing dead server", "server", srv.Name, "id", srv.Id, "serf_status", srv.SerfStatus)
	if err := s.await(s.raft.RemoveServer(raft.ServerID(srv.Id), 0, 0)); err != nil {
		s.log.Warn("autopilot: remove dead server", "server", srv.Name, "id", srv.Id, "error", err)
		return false
	}
	s.autopilot.mu.Lock()
	delete(s.autopilot.failedSince, srv.Id)
	s.autopilot.warned = ""
	s.autopilot.mu.Unlock()
	return true
}

// warnOnce logs msg unless it was the last refusal logged.
func (s *Server) warnOnce(msg string, args ...any) {
	s.autopilot.mu.Lock()
	key := msg + fmt.Sprint(args...)
	repeat := s.autopilot.warned == key
	s.autopilot.warned = key
	s.autopilot.mu.Unlock()
	if !repeat {
		s.log.Warn(msg, args...)
	}
}

package dc

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
)

// monitorLeadership runs the leader loop while this server leads.
func (s *Server) monitorLeadership() {
	var stop chan struct{}
	var wg sync.WaitGroup
	stopLeader := func() {
		if stop != nil {
			close(stop)
			wg.Wait()
			stop = nil
		}
	}
	defer stopLeader()
	for {
		select {
		case isLeader := <-s.raft.LeaderCh():
			if isLeader && stop == nil {
				stop = make(chan struct{})
				wg.Add(1)
				go func(stop chan struct{}) {
					defer wg.Done()
					s.leaderLoop(stop)
				}(stop)
				s.log.Info("cluster leadership acquired")
			} else if !isLeader {
				stopLeader()
				s.log.Info("cluster leadership lost")
			}
		case <-s.shutdownCh:
			return
		}
	}
}

// leaderLoop does the leader's duties until stop closes.
func (s *Server) leaderLoop(stop <-chan struct{}) {
	// Apply everything committed by earlier terms before acting on state.
	for {
		if err := s.await(s.raft.Barrier(s.cfg.RPCHoldTimeout)); err == nil {
			break
		} else {
			s.log.Warn("leader barrier failed", "error", err)
		}
		retry, timer := clock.After(s.clock, time.Second)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-retry:
		}
	}
	s.leaderReady.Store(true)
	defer s.leaderReady.Store(false)
	reconcile, reconcileTimer := clock.After(s.clock, s.cfg.ReconcileInterval)
	defer func() { reconcileTimer.Stop() }()
	gc, gcTimer := clock.After(s.clock, s.cfg.TombstoneGCInterval)
	defer func() { gcTimer.Stop() }()
	reaper := &tombstoneReaper{ttl: s.cfg.TombstoneTTL}
	timers := s.startSessionTimers()
	defer func() {
		s.sessTimers.Store(nil)
		timers.stop()
	}()
	if s.cfg.KVReplication.Enabled() {
		ctx, cancelRepl := context.WithCancel(s.baseCtx)
		var repl sync.WaitGroup
		repl.Add(1)
		go func() {
			defer repl.Done()
			s.runKVReplication(ctx)
		}()
		defer func() {
			cancelRepl()
			repl.Wait()
		}()
	}
	apCtx, cancelAutopilot := context.WithCancel(s.baseCtx)
	var ap sync.WaitGroup
	ap.Add(1)
	go func() {
		defer ap.Done()
		s.runAutopilot(apCtx)
	}()
	defer func() {
		cancelAutopilot()
		ap.Wait()
	}()
	changes, cancel := s.deps.Membership.Subscribe()
	defer cancel()
	// A secondary datacenter's leader copies the primary's ACL state.
	var replicate <-chan struct{}
	var replicateTimer clock.Timer
	if s.cfg.ACL.Enabled && !s.isPrimary() {
		replicate, replicateTimer = clock.After(s.clock, 0)
		s.aclRepl.setRunning(true)
	}
	defer func() {
		if replicateTimer != nil {
			replicateTimer.Stop()
			s.aclRepl.setRunning(false)
		}
	}()
	s.reconcile()
	for {
		select {
		case <-stop:
			return
		case <-replicate:
			err := s.replicateACLs(s.baseCtx)
			s.setPrimaryReachable(!unreachable(err))
			if err != nil {
				s.aclRepl.failed(s.clock.Now(), err)
				s.log.Warn("acl replication from the primary datacenter failed; tokens resolve from the last copy",
					"primary", s.cfg.ACL.PrimaryDatacenter, "error", err)
			}
			replicate, replicateTimer = clock.After(s.clock, s.cfg.ACL.replicationInterval())
		case <-changes:
			s.reconcile()
		case <-reconcile:
			s.reconcile()
			reconcile, reconcileTimer = clock.After(s.clock, s.cfg.ReconcileInterval)
		case <-gc:
			if idx := reaper.due(s.clock.Now(), s.store.TableIndex(nil, "tombstones")); idx > 0 && s.store.TombstoneCount() > 0 {
				s.reapTombstones(idx)
			}
			gc, gcTimer = clock.After(s.clock, s.cfg.TombstoneGCInterval)
		}
	}
}

// reconcile brings Raft's configuration and the catalog in line with the
// LAN pool. It runs on every membership change, periodically, and when
// leadership is gained, so no event is lost across a leader change.
func (s *Server) reconcile() {
	s.reconcileServers()
	s.reconcileCatalog()
}

// reconcileServers makes the Raft configuration follow the LAN pool: alive
// servers of this datacenter become voters, servers that left are removed.
// Failed servers stay: they may come back, and removing them could cost
// the quorum.
func (s *Server) reconcileServers() {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		s.log.Warn("read raft configuration", "error", err)
		return
	}
	inRaft := map[raft.ServerID]raft.ServerAddress{}
	for _, srv := range f.Configuration().Servers {
		inRaft[srv.ID] = srv.Address
	}
	for _, m := range s.deps.Membership.Members() {
		if !m.Server || m.Datacenter != s.cfg.Datacenter || m.ID == "" {
			continue
		}
		id := raft.ServerID(m.ID)
		addr, present := inRaft[id]
		switch m.Status {
		case StatusAlive:
			if present && addr == raft.ServerAddress(m.Addr) {
				continue
			}
			s.log.Info("adding raft voter", "server", m.Name, "id", m.ID, "addr", m.Addr)
			if err := s.await(s.raft.AddVoter(id, raft.ServerAddress(m.Addr), 0, 0)); err != nil {
				s.log.Warn("add raft voter", "server", m.Name, "error", err)
			}
		case StatusLeft:
			if !present || m.ID == s.cfg.NodeID {
				continue
			}
			s.log.Info("removing raft peer that left", "server", m.Name, "id", m.ID)
			if err := s.await(s.raft.RemoveServer(id, 0, 0)); err != nil {
				s.log.Warn("remove raft peer", "server", m.Name, "error", err)
			}
		}
	}
}

func (s *Server) reapTombstones(idx uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RPCHoldTimeout)
	defer cancel()
	cmd := &pb.Command{Cmd: &pb.Command_TombstoneReap{TombstoneReap: &pb.TombstoneReap{Index: idx}}}
	if _, err := s.raftApply(ctx, cmd); err != nil {
		s.log.Warn("reap tombstones", "index", idx, "error", err)
		return
	}
	s.log.Debug("reaped tombstones", "up_to_index", idx)
}

// tombstoneReaper remembers the tombstone index at each look, and names
// the newest index that is at least ttl old: every tombstone at or below
// it was made at least ttl ago.
type tombstoneReaper struct {
	ttl     time.Duration
	samples []reapSample
	reaped  uint64
}

type reapSample struct {
	at  time.Time
	idx uint64
}

func (r *tombstoneReaper) due(now time.Time, idx uint64) uint64 {
	r.samples = append(r.samples, reapSample{at: now, idx: idx})
	var pick uint64
	keep := r.samples[:0]
	for _, s := range r.samples {
		if now.Sub(s.at) >= r.ttl {
			pick = max(pick, s.idx)
			continue
		}
		keep = append(keep, s)
	}
	r.samples = keep
	if pick <= r.reaped {
		return 0
	}
	r.reaped = pick
	return pick
}

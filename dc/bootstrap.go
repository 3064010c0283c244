package dc

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
)

// bootstrapWhenExpected waits until BootstrapExpect servers of this
// datacenter are alive in the LAN pool, then bootstraps Raft with all of
// them. Every expected server computes the same configuration, so it does
// not matter which of them bootstraps first. It runs only when this server
// started without Raft state, and never again once it has some.
func (s *Server) bootstrapWhenExpected() {
	changes, cancel := s.deps.Membership.Subscribe()
	defer cancel()
	for {
		if s.tryBootstrap() {
			return
		}
		retry, timer := clock.After(s.clock, time.Second)
		select {
		case <-s.shutdownCh:
			timer.Stop()
			return
		case <-changes:
			timer.Stop()
		case <-retry:
		}
	}
}

// tryBootstrap reports whether bootstrapping is settled (done here, done
// elsewhere, or not needed).
func (s *Server) tryBootstrap() bool {
	if s.raft.LastIndex() > 0 || s.LeaderAddr() != "" {
		return true
	}
	var servers []Member
	for _, m := range s.deps.Membership.Members() {
		if !m.Server || m.Datacenter != s.cfg.Datacenter || m.Status != StatusAlive {
			continue
		}
		if m.Bootstrap {
			s.log.Error("a server in bootstrap mode is in the pool; not bootstrapping", "server", m.Name)
			return false
		}
		if m.Expect != 0 && m.Expect != s.cfg.BootstrapExpect {
			s.log.Error("servers disagree on bootstrap-expect; not bootstrapping", "server", m.Name, "expect", m.Expect, "ours", s.cfg.BootstrapExpect)
			return false
		}
		servers = append(servers, m)
	}
	if len(servers) < s.cfg.BootstrapExpect {
		s.log.Debug("waiting for servers to bootstrap", "seen", len(servers), "expect", s.cfg.BootstrapExpect)
		return false
	}
	// A peer that already has Raft state means the cluster exists: this
	// server will be added by its leader rather than start a second one.
	for _, m := range servers {
		if m.ID == s.cfg.NodeID {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var resp pb.StatusRaftIndexResponse
		err := s.deps.Pool.Call(ctx, m.Addr, MethodStatusRaftIndex, &pb.StatusRequest{}, &resp)
		cancel()
		if err != nil {
			s.log.Debug("asking peer for raft state before bootstrap", "server", m.Name, "error", err)
			return false
		}
		if resp.LastIndex > 0 {
			s.log.Info("a peer has raft state; not bootstrapping", "server", m.Name)
			return true
		}
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	conf := raft.Configuration{}
	for _, m := range servers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr)})
	}
	if err := s.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		s.log.Error("bootstrap raft", "error", err)
		return false
	}
	s.log.Info("bootstrapped raft", "servers", len(servers))
	return true
}

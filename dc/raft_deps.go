package dc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/logging"
)

// LogStore is Raft's log store, named here so that callers wrapping it
// (Deps.WrapLogStore) need not import Raft: dc is the only package that
// does.
type LogStore = raft.LogStore

// StreamLayer carries Raft's traffic between servers: inbound connections
// from Accept, outbound ones from Dial. *rpc.RaftLayer is one; New builds
// Raft's network transport on it from the Config's Raft* fields.
type StreamLayer interface {
	net.Listener
	// Dial connects to the server at addr (ip:port) within timeout.
	Dial(addr string, timeout time.Duration) (net.Conn, error)
}

// raftStream adapts a StreamLayer to raft.StreamLayer.
type raftStream struct{ StreamLayer }

func (r raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return r.StreamLayer.Dial(string(addr), timeout)
}

// openRaftDeps is the one place where what Raft runs on is built from the
// Config: the transport on Deps.RaftStream unless Deps.Transport is given,
// and the log, stable and snapshot stores under DataDir (in memory without
// one) unless Deps gives them. What it opens, it closes on Shutdown.
func (s *Server) openRaftDeps() error {
	if err := s.openStores(); err != nil {
		return err
	}
	if s.deps.WrapLogStore != nil {
		s.deps.LogStore = s.deps.WrapLogStore(s.deps.LogStore)
	}
	if s.deps.Transport == nil {
		s.deps.Transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  raftStream{s.deps.RaftStream},
			MaxPool: s.cfg.RaftMaxPool,
			Timeout: s.cfg.RaftNetTimeout,
			Logger:  logging.HCLog(s.log, "raft-net"),
			// One AppendEntries in flight per follower (the default):
			// while it is out, new entries pile up and go in the next
			// one, so a follower syncs its disk once per large batch
			// instead of once per small one.
			MaxRPCsInFlight: s.cfg.RaftRPCsInFlight,
		})
	}
	return nil
}

// logCacheSize is how many of the latest log entries are kept in memory
// (Consul's default).
const logCacheSize = 512

func (s *Server) openStores() error {
	if s.cfg.DataDir == "" {
		if s.deps.LogStore == nil {
			mem := raft.NewInmemStore()
			s.deps.LogStore, s.deps.StableStore = mem, mem
		}
		if s.deps.SnapshotStore == nil {
			s.deps.SnapshotStore = raft.NewInmemSnapshotStore()
		}
		return nil
	}
	dir := filepath.Join(s.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dc: %w", err)
	}
	if s.deps.LogStore == nil {
		ls, err := openLogStore(dir, s.cfg.LogStoreBackend, logStoreOptions{
			NoFreelistSync: s.cfg.NoFreelistSync,
			WALSegmentSize: s.cfg.WALSegmentSize,
		}, s.log)
		if err != nil {
			return fmt.Errorf("dc: open raft log %s: %w", dir, err)
		}
		s.closers = append(s.closers, ls)
		// Recent entries stay in memory: a follower applies what it just
		// appended and a leader replicates what it just wrote without
		// reading them back from disk (a syscall and a decode each).
		cache, err := raft.NewLogCache(logCacheSize, ls.LogStore)
		if err != nil {
			s.closeStores()
			return fmt.Errorf("dc: %w", err)
		}
		s.deps.LogStore, s.deps.StableStore = cache, ls.StableStore
	}
	if s.deps.SnapshotStore == nil {
		snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, logging.HCLog(s.log, "snapshot"))
		if err != nil {
			s.closeStores()
			return fmt.Errorf("dc: open snapshots: %w", err)
		}
		s.deps.SnapshotStore = snaps
	}
	return nil
}

func (s *Server) closeStores() {
	for _, c := range s.closers {
		if err := c.Close(); err != nil {
			s.log.Warn("close raft store", "error", err)
		}
	}
	s.closers = nil
}

package dc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/store"
)

// Caller makes an RPC to another server; *rpc.Pool is one.
type Caller interface {
	Call(ctx context.Context, addr, method string, req, resp proto.Message) error
}

// MemberStatus is a LAN member's gossip status.
type MemberStatus int

// Member statuses, Consul's numbers.
const (
	StatusNone MemberStatus = iota
	StatusAlive
	StatusLeaving
	StatusLeft
	StatusFailed
)

// Member is what the server needs to know of one LAN pool member.
type Member struct {
	Name       string
	ID         string
	Datacenter string
	// Address is the member's IP.
	Address string
	// Addr is the member's RPC (and Raft) address, ip:port; servers only.
	Addr      string
	Server    bool
	Expect    int
	Bootstrap bool
	Status    MemberStatus
}

// Membership is the server's view of the LAN pool.
type Membership interface {
	Members() []Member
	// Subscribe returns a channel that receives (coalesced, never
	// blocking the pool) after membership changes, until cancel is called.
	Subscribe() (ch <-chan struct{}, cancel func())
}

// Deps are what a server is built from. Storage is optional: nil stores
// are opened under DataDir, or kept in memory without one.
type Deps struct {
	Transport  raft.Transport
	Pool       Caller
	Membership Membership
	// Router routes requests for other datacenters; nil knows only this
	// one.
	Router        Router
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore
	// WrapLogStore, if set, wraps the log store (fault tests slow it down).
	WrapLogStore func(raft.LogStore) raft.LogStore
}

// Server is one datacenter server.
type Server struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store *store.Store

	raft *raft.Raft
	// verifier batches leadership checks, readIndexes a follower's
	// read-index requests (see linearize).
	verifier    *roundBatcher
	readIndexes *roundBatcher
	fsm         *fsm
	proposer    *proposer
	closers     []io.Closer

	endpoints map[string]endpoint
	// leaderReady is set once this server leads and has applied every
	// entry of earlier terms (its barrier went through); reads on the
	// leader wait for it, so none misses an acknowledged write.
	leaderReady atomic.Bool
	// caughtUp is set once this server has heard from a leader and applied
	// what was committed by then; until it has, it does not answer stale
	// reads from a store that may be far behind (after a restart).
	caughtUp atomic.Bool
	// sessTimers is set while this server leads.
	sessTimers atomic.Pointer[sessionTimers]

	shutdownCh chan struct{}
	// applyStopped closes when the store stops applying the log (see
	// ApplyStopped).
	applyStopped chan struct{}
	// raftDown closes once Raft has shut down: from then on nothing answers
	// a future still queued in Raft's apply channel (see await).
	raftDown     chan struct{}
	baseCtx      context.Context
	cancelBase   context.CancelFunc
	shutdownOnce sync.Once
	wg           sync.WaitGroup
}

// New validates cfg and builds a server. It starts nothing.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Transport == nil || deps.Pool == nil || deps.Membership == nil {
		return nil, errors.New("dc: transport, pool and membership are required")
	}
	st, err := store.New()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		deps:       deps,
		log:        cfg.Logger.With("node", cfg.NodeName, "dc", cfg.Datacenter),
		store:      st,
		shutdownCh: make(chan struct{}),
		raftDown:   make(chan struct{}),
	}
	s.applyStopped = make(chan struct{})
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.registerEndpoints()
	return s, nil
}

// ApplyStopped closes when the server has met a committed log entry it
// cannot interpret (a command type of a later version not marked
// ignorable) and stopped applying the log rather than diverge from its
// peers; Store().Stopped() says why. The process should shut the server
// down and exit: nothing it serves from then on would be current.
func (s *Server) ApplyStopped() <-chan struct{} { return s.applyStopped }

// Store is the server's state store, for reads that need no RPC.
func (s *Server) Store() *store.Store { return s.store }

// Start opens the Raft stores, starts Raft and the server's loops.
func (s *Server) Start(ctx context.Context) error {
	if err := s.openStores(); err != nil {
		return err
	}
	if s.deps.WrapLogStore != nil {
		s.deps.LogStore = s.deps.WrapLogStore(s.deps.LogStore)
	}
	hasState, err := raft.HasExistingState(s.deps.LogStore, s.deps.StableStore, s.deps.SnapshotStore)
	if err != nil {
		return fmt.Errorf("dc: read raft state: %w", err)
	}
	rc := s.cfg.raftConfig()
	rc.Logger = logging.HCLog(s.log, "raft")
	s.fsm = &fsm{store: s.store, log: s.log, stoppedCh: s.applyStopped}
	var machine raft.FSM = s.fsm
	if !s.cfg.BatchingFSM {
		machine = unbatchedFSM{s.fsm}
	}
	r, err := raft.NewRaft(rc, machine, s.deps.LogStore, s.deps.StableStore, s.deps.SnapshotStore, s.deps.Transport)
	if err != nil {
		s.closeStores()
		return fmt.Errorf("dc: start raft: %w", err)
	}
	s.raft = r
	// NewRaft restored the latest snapshot synchronously: the store holds
	// everything up to it.
	s.fsm.applied.Store(max(s.fsm.applied.Load(), r.AppliedIndex()))
	s.verifier = &roundBatcher{do: s.verifyRound}
	s.readIndexes = &roundBatcher{do: s.readIndexRound}
	s.proposer = &proposer{s: s}
	if s.cfg.Bootstrap && !hasState {
		conf := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(s.cfg.NodeID), Address: raft.ServerAddress(s.cfg.RPCAddr)}}}
		if err := r.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("dc: bootstrap: %w", err)
		}
	}
	s.goFunc(s.monitorLeadership)
	if s.cfg.BootstrapExpect > 0 && !hasState {
		s.goFunc(s.bootstrapWhenExpected)
	}
	s.log.Info("server started", "raft_state", hasState, "rpc_addr", s.cfg.RPCAddr)
	return nil
}

func (s *Server) goFunc(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

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
		bolt, err := raftboltdb.New(raftboltdb.Options{
			Path: filepath.Join(dir, "raft.db"),
			// The freelist is rebuilt on open instead of written on every
			// commit: fewer pages per fsync on the write path.
			BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: s.cfg.NoFreelistSync},
		})
		if err != nil {
			return fmt.Errorf("dc: open raft log %s: %w", dir, err)
		}
		s.closers = append(s.closers, bolt)
		s.deps.LogStore, s.deps.StableStore = bolt, bolt
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

// Shutdown stops Raft and every loop of the server without leaving the
// cluster (see Leave). It is idempotent.
func (s *Server) Shutdown() error {
	var err error
	s.shutdownOnce.Do(func() {
		close(s.shutdownCh)
		s.cancelBase()
		if s.raft != nil {
			err = s.raft.Shutdown().Error()
			close(s.raftDown)
			s.proposer.wg.Wait()
		}
		s.wg.Wait()
		if c, ok := s.deps.Transport.(io.Closer); ok {
			c.Close()
		}
		s.closeStores()
	})
	return err
}

// Leave removes this server from the Raft configuration before it goes:
// the leader removes itself; a follower calls leaveLAN (the gossip leave
// that makes the leader remove it) and waits, bounded by ctx, until it is
// out of the configuration.
func (s *Server) Leave(ctx context.Context, leaveLAN func() error) error {
	if s.raft == nil {
		return leaveLAN()
	}
	id := raft.ServerID(s.cfg.NodeID)
	if s.IsLeader() && s.numVoters() > 1 {
		if err := s.await(s.raft.RemoveServer(id, 0, 0)); err != nil {
			s.log.Warn("remove self from raft", "error", err)
		}
	}
	if err := leaveLAN(); err != nil {
		return err
	}
	for s.inConfiguration(id) && s.numVoters() > 1 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("dc: still a raft peer after leaving: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (s *Server) inConfiguration(id raft.ServerID) bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) numVoters() int {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}

// IsLeader reports whether this server is the Raft leader.
func (s *Server) IsLeader() bool {
	return s.raft != nil && s.raft.State() == raft.Leader
}

// LeaderAddr is the current leader's RPC address, "" when unknown.
func (s *Server) LeaderAddr() string {
	if s.raft == nil {
		return ""
	}
	addr, _ := s.raft.LeaderWithID()
	return string(addr)
}

// Stats are Raft's statistics for /v1/agent/self and `info`.
func (s *Server) Stats() map[string]string {
	if s.raft == nil {
		return map[string]string{}
	}
	return s.raft.Stats()
}

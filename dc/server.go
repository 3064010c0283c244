package dc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/telemetry"
	"github.com/meridian-io/meridian/store"
)

// Caller makes an RPC to another server; *rpc.Pool is one.
type Caller interface {
	Call(ctx context.Context, addr, method string, req, resp proto.Message) error
}

// BatchCaller is a Caller that can also send prompt calls together with
// others to the same server (rpc.Pool.CallBatched); writes forwarded to
// the leader go that way when the Pool offers it.
type BatchCaller interface {
	CallBatched(ctx context.Context, addr, method string, req, resp proto.Message) error
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
	// Build is the member's build version (its gossip "build" tag).
	Build string
}

// Membership is the server's view of the LAN pool.
type Membership interface {
	Members() []Member
	// Subscribe returns a channel that receives (coalesced, never
	// blocking the pool) after membership changes, until cancel is called.
	Subscribe() (ch <-chan struct{}, cancel func())
}

// Deps are what a server is built from. Pool and Membership are
// required, and one of RaftStream and Transport. Storage is optional: nil
// stores are opened under DataDir, or kept in memory without one (see
// openRaftDeps).
type Deps struct {
	// RaftStream carries Raft between servers; Start builds Raft's
	// network transport on it. Transport, if set instead, is used as it
	// is (tests hand raft.NewInmemTransport).
	RaftStream StreamLayer
	Transport  raft.Transport
	// Pool reaches other servers' RPC endpoints (forwarding, read index).
	Pool Caller
	// Membership is the LAN pool as the server sees it.
	Membership Membership
	// Router routes requests for other datacenters; nil knows only this
	// one.
	Router Router
	// WAN gives the WAN coordinates of every datacenter's servers
	// (/v1/coordinate/datacenters); nil lists none.
	WAN WANCoordinates
	// Events fires user events into the LAN pool, for requests from
	// other datacenters (and agents); nil refuses them.
	Events UserEvents
	// Keyring changes the server's gossip keyrings (keyring operations
	// from any agent of any datacenter); nil refuses them.
	Keyring       Keyring
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore
	// WrapLogStore, if set, wraps the log store (fault tests slow it down).
	WrapLogStore func(LogStore) LogStore
	// Metrics receives what the server measures (RPCs, cross-datacenter
	// calls, blocking queries, leader changes); nil records nothing.
	Metrics *telemetry.Sink
	// Clock drives the server's own timers (session TTLs, leader duties,
	// waits for a leader) and the time written into commands; nil is
	// clock.Real.
	Clock clock.Clock
}

// Server is one datacenter server.
type Server struct {
	cfg   Config
	deps  Deps
	clock clock.Clock
	log   *slog.Logger
	store *store.Store
	// aclCache holds resolved tokens (acl_resolve.go).
	aclCache aclCache
	// replToken, once set, replaces ACL.ReplicationToken (the agent's
	// token API changes it at run time).
	replToken atomic.Pointer[string]
	// aclPrimaryDown is set while the primary datacenter is unreachable
	// from here (acl_down.go).
	aclPrimaryDown atomic.Bool

	raft *raft.Raft
	// verifier batches leadership checks, readIndexes a follower's
	// read-index requests (see linearize).
	verifier    *roundBatcher
	readIndexes *roundBatcher
	fsm         *fsm
	proposer    *proposer
	closers     []io.Closer

	endpoints map[string]endpoint
	// shared lets identical blocking queries share one query.
	shared sharedQueries
	// serviceCache shares the answers of large service reads.
	serviceCache serviceCache
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
	// coords queues the coordinate updates the leader received.
	coords coordinateBatch
	// kvRepl is what this server knows of KV replication.
	kvRepl kvReplStats
	// aclRepl is what it knows of ACL replication (acl_replicate.go).
	aclRepl aclReplStats
	// autopilot is the leader's autopilot state (autopilot.go).
	autopilot autopilotState
	// forwarding counts the writes being forwarded to the leader.
	forwarding inflight
	// blocking counts the blocking queries waiting now.
	blocking atomic.Int64
	// rpcRequests counts RPC calls by method (rpc.request).
	rpcRequests *telemetry.Tally
	// rpcCalls times RPC calls by method and outcome (rpc.server.call).
	rpcCalls *telemetry.Timer

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
	if (deps.Transport == nil && deps.RaftStream == nil) || deps.Pool == nil || deps.Membership == nil {
		return nil, errors.New("dc: a raft stream or transport, a pool and a membership are required")
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real()
	}
	// The KV values live in files under the data directory (unlinked,
	// rebuilt from the Raft log on every start), in the system's temporary
	// directory without one.
	var valueDir string
	if cfg.DataDir != "" {
		valueDir = filepath.Join(cfg.DataDir, "kv-values")
	}
	st, err := store.NewWithOptions(store.Options{ValueDir: valueDir})
	if err != nil {
		return nil, err
	}
	cfg.KVReplication.Prefixes = slices.Clone(cfg.KVReplication.Prefixes)
	cfg.KVReplication.Exclude = slices.Clone(cfg.KVReplication.Exclude)
	s := &Server{
		cfg:         cfg,
		deps:        deps,
		rpcRequests: deps.Metrics.NewTally(keyRPCRequest, "method"),
		rpcCalls:    deps.Metrics.NewTimer(keyRPCCall, "method", "errored"),
		clock:       deps.Clock,
		log:         cfg.Logger.With("node", cfg.NodeName, "dc", cfg.Datacenter),
		store:       st,
		shutdownCh:  make(chan struct{}),
		raftDown:    make(chan struct{}),
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

// Start opens the Raft stores and transport (see openRaftDeps), starts
// Raft and the server's loops.
func (s *Server) Start(ctx context.Context) error {
	if err := s.openRaftDeps(); err != nil {
		return err
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
	if s.deps.Metrics != nil {
		s.goFunc(s.observeLeaders)
	}
	s.goFunc(s.runCoordinateBatches)
	s.goFunc(s.watchPrimary)
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

// Shutdown stops Raft and every loop of the server without leaving the
// cluster (see Leave). It is idempotent.
func (s *Server) Shutdown() error {
	var err error
	s.shutdownOnce.Do(func() {
		close(s.shutdownCh)
		s.cancelBase()
		if s.raft != nil {
			// Raft waits for its RPCs in flight before it reports that it
			// has shut down; closing the transport at once ends those to
			// peers that stopped answering (a vote request to a paused
			// server waits for the transport's timeout otherwise).
			f := s.raft.Shutdown()
			if c, ok := s.deps.Transport.(io.Closer); ok {
				c.Close()
			}
			err = f.Error()
			close(s.raftDown)
			s.proposer.stop()
			s.verifier.stop()
			s.readIndexes.stop()
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
		poll, timer := clock.After(s.clock, 50*time.Millisecond)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("dc: still a raft peer after leaving: %w", ctx.Err())
		case <-poll:
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

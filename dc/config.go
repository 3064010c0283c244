package dc

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a datacenter server. It is copied by New, never written.
type Config struct {
	NodeName   string
	NodeID     string
	Datacenter string
	// DataDir holds the Raft log, stable store and snapshots; "" keeps
	// everything in memory (dev agents, unit tests).
	DataDir string
	// Bootstrap makes this server elect itself when it has no Raft state.
	Bootstrap bool
	// BootstrapExpect waits for this many servers in the LAN pool, then
	// bootstraps Raft with all of them. Ignored once Raft has state.
	BootstrapExpect int
	// RPCAddr is the ip:port other servers reach this one at, for Raft and
	// RPC alike (one port, demultiplexed).
	RPCAddr string
	Version string

	// Raft timings; see LANProfile and DevProfile.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	MaxAppendEntries   int

	// Raft's network transport (built on Deps.RaftStream): connections
	// kept per peer, the I/O deadline of one Raft RPC, and how many
	// AppendEntries may be outstanding per follower.
	RaftMaxPool      int
	RaftNetTimeout   time.Duration
	RaftRPCsInFlight int

	// RPCHoldTimeout is how long a request waits for a leader before it
	// fails with ErrNoLeader (Consul's rpc_hold_timeout).
	RPCHoldTimeout time.Duration
	// DefaultQueryTime and MaxQueryTime bound blocking queries.
	DefaultQueryTime time.Duration
	MaxQueryTime     time.Duration
	// ReconcileInterval is how often the leader reconciles membership even
	// without events.
	ReconcileInterval time.Duration
	// TombstoneTTL is how long KV tombstones are kept before the leader
	// reaps them; TombstoneGCInterval how often it looks.
	TombstoneTTL        time.Duration
	TombstoneGCInterval time.Duration
	// SessionTTLMin is the smallest session TTL accepted.
	SessionTTLMin time.Duration
	// MaxEntrySize bounds one encoded Raft command.
	MaxEntrySize int

	// The leader writes the coordinate updates agents send every
	// CoordinateUpdatePeriod, in log entries of at most
	// CoordinateUpdateBatchSize updates, at most CoordinateUpdateMaxBatches
	// entries per period (Consul's coordinate_update_* settings); further
	// updates wait for no one and are discarded.
	CoordinateUpdatePeriod     time.Duration
	CoordinateUpdateBatchSize  int
	CoordinateUpdateMaxBatches int

	// The write path's batching, each measurable on its own (see the
	// benchmarks): BatchApply lets Raft take every queued write into one
	// append and one disk sync; BatchingFSM applies a committed batch in
	// one store transaction; NoFreelistSync keeps bbolt from writing its
	// freelist on every commit.
	BatchApply     bool
	BatchingFSM    bool
	NoFreelistSync bool

	// FollowerReads lets followers answer default and consistent reads
	// after a read index from the leader instead of forwarding them.
	FollowerReads bool

	// ACL is the ACL system's configuration (off by default).
	ACL ACLConfig
	// KVReplication, when its SourceDatacenter is set, makes the leader
	// follow another datacenter's KV prefixes (see KVReplicationConfig).
	KVReplication KVReplicationConfig
	// Autopilot is autopilot's configuration until one is set through
	// the API; AutopilotInterval is how often the leader refreshes server
	// health and looks for dead servers.
	Autopilot         AutopilotConfig
	AutopilotInterval time.Duration

	Logger *slog.Logger
}

// LANProfile is the configuration for servers on a LAN: a lost leader is
// replaced within a few seconds.
func LANProfile() Config {
	return Config{
		Datacenter:          "dc1",
		HeartbeatTimeout:    1000 * time.Millisecond,
		ElectionTimeout:     1000 * time.Millisecond,
		LeaderLeaseTimeout:  500 * time.Millisecond,
		CommitTimeout:       50 * time.Millisecond,
		SnapshotInterval:    30 * time.Second,
		SnapshotThreshold:   16384,
		TrailingLogs:        10240,
		MaxAppendEntries:    256,
		RaftMaxPool:         3,
		RaftNetTimeout:      10 * time.Second,
		RaftRPCsInFlight:    1,
		RPCHoldTimeout:      7 * time.Second,
		DefaultQueryTime:    300 * time.Second,
		MaxQueryTime:        600 * time.Second,
		ReconcileInterval:   60 * time.Second,
		TombstoneTTL:        15 * time.Minute,
		TombstoneGCInterval: time.Minute,
		MaxEntrySize:        4 << 20,
		SessionTTLMin:       10 * time.Second,
		Autopilot:           DefaultAutopilotConfig(),
		AutopilotInterval:   2 * time.Second,

		CoordinateUpdatePeriod:     5 * time.Second,
		CoordinateUpdateBatchSize:  128,
		CoordinateUpdateMaxBatches: 5,
		BatchApply:                 true,
		FollowerReads:              true,
		BatchingFSM:                true,
		NoFreelistSync:             true,
		Logger:                     slog.Default(),
	}
}

// DevProfile is LANProfile for a single in-memory server.
func DevProfile() Config {
	c := LANProfile()
	c.Bootstrap = true
	c.HeartbeatTimeout = 500 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	return c
}

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("dc: node name is required")
	case c.NodeID == "":
		return errors.New("dc: node id is required")
	case c.Datacenter == "":
		return errors.New("dc: datacenter is required")
	case c.RPCAddr == "":
		return errors.New("dc: rpc address is required")
	case c.Bootstrap && c.BootstrapExpect > 0:
		return errors.New("dc: bootstrap and bootstrap-expect are mutually exclusive")
	case c.BootstrapExpect < 0:
		return fmt.Errorf("dc: bootstrap-expect %d is negative", c.BootstrapExpect)
	case c.CoordinateUpdatePeriod < 0 || c.CoordinateUpdateBatchSize < 0 || c.CoordinateUpdateMaxBatches < 0:
		return errors.New("dc: coordinate update period, batch size and max batches must not be negative")
	case c.Autopilot.LastContactThreshold < 0 || c.Autopilot.ServerStabilizationTime < 0:
		return errors.New("dc: autopilot durations must not be negative")
	case c.AutopilotInterval <= 0:
		return errors.New("dc: autopilot interval must be positive")
	case c.Logger == nil:
		return errors.New("dc: logger is required")
	}
	if err := ValidateKVReplication(c.KVReplication, c.Datacenter); err != nil {
		return fmt.Errorf("dc: %w", err)
	}
	return nil
}

func (c *Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	rc.MaxAppendEntries = c.MaxAppendEntries
	// With BatchApplyCh, writes queued while a batch is in flight go out
	// together: one disk sync and one round trip for many commands.
	rc.BatchApplyCh = c.BatchApply
	return rc
}

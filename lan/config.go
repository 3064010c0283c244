package lan

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meridian-io/meridian/internal/serfpool"
)

// Roles of an agent in the pool.
const (
	RoleServer = "server"
	RoleClient = "client"
)

// Profiles select memberlist's timing defaults.
const (
	// ProfileLAN is memberlist.DefaultLANConfig: production timings.
	ProfileLAN = serfpool.ProfileLAN
	// ProfileLocal is memberlist.DefaultLocalConfig: fast failure
	// detection for loopback tests and dev agents.
	ProfileLocal = serfpool.ProfileLocal
)

// DefaultPort is the serf LAN port (TCP and UDP), also used for join
// addresses that name no port.
const DefaultPort = 8301

// Defaults for the reconnect and tombstone timeouts (Consul's values).
const (
	DefaultReconnectTimeout = serfpool.DefaultReconnectTimeout
	DefaultTombstoneTimeout = serfpool.DefaultTombstoneTimeout
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid lan config")

// Config configures a Pool. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// NodeName is the member name, unique in the pool. Required.
	NodeName string
	// NodeID is the node's unique ID (also the server's Raft ID), carried in
	// the "id" tag. Required.
	NodeID string
	// Datacenter is this pool's datacenter; members of another datacenter
	// are refused.
	Datacenter string
	// Role is RoleServer or RoleClient.
	Role string

	// BindAddr and BindPort are where memberlist listens (TCP and UDP) when
	// Transport is nil. BindAddr must be an IP; BindPort 0 picks a free port.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other members dial; empty/0
	// derives them from the bind address.
	AdvertiseAddr string
	AdvertisePort int

	// RPCPort is the server RPC port advertised in the "port" tag (servers
	// only).
	RPCPort int
	// BootstrapExpect is the number of servers to wait for before
	// bootstrapping Raft ("expect" tag; servers only; 0 = unset).
	BootstrapExpect int
	// Bootstrap marks a server that bootstraps alone ("bootstrap" tag).
	// Mutually exclusive with BootstrapExpect.
	Bootstrap bool
	// Version is the build version advertised in the "build" tag.
	Version string

	// SnapshotPath is serf's snapshot file (known members and clocks, used
	// to rejoin after a restart); "" keeps no snapshot.
	SnapshotPath string
	// RejoinAfterLeave rejoins the snapshot's members on start even after a
	// graceful leave.
	RejoinAfterLeave bool

	// Profile is ProfileLAN (default when empty) or ProfileLocal.
	Profile string
	// EncryptKey is the gossip encryption key (16, 24 or 32 bytes); nil
	// gossips in clear.
	EncryptKey []byte
	// KeyringFile keeps the keyring across restarts once it is rotated
	// (Consul: serf/local.keyring, serf/remote.keyring); when it exists it
	// is the keyring and EncryptKey is ignored. "" keeps none.
	KeyringFile string

	// ReconnectTimeout is how long a failed member is retried before it is
	// reaped; TombstoneTimeout is how long a left member is remembered.
	// Zero means the defaults above.
	ReconnectTimeout time.Duration
	TombstoneTimeout time.Duration

	// EventBuffer is each subscriber's channel capacity (default 128).
	EventBuffer int

	// Logger receives the pool's and the libraries' logs; nil discards.
	Logger *slog.Logger
	// Transport replaces memberlist's own UDP/TCP transport (fault-injection
	// tests, in-memory networks). Memberlist shuts it down with the pool.
	Transport memberlist.NodeAwareTransport
}

// DefaultConfig returns a client configuration for datacenter dc1 on the
// default port with the LAN profile; NodeName and NodeID must still be set.
func DefaultConfig() Config {
	return Config{
		Datacenter:       "dc1",
		Role:             RoleClient,
		BindAddr:         "0.0.0.0",
		BindPort:         DefaultPort,
		RPCPort:          8300,
		Profile:          ProfileLAN,
		ReconnectTimeout: DefaultReconnectTimeout,
		TombstoneTimeout: DefaultTombstoneTimeout,
		EventBuffer:      defaultEventBuffer,
	}
}

// defaultEventBuffer is a subscriber's channel capacity when unset.
const defaultEventBuffer = 128

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	pc := c.poolConfig()
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch {
	case c.Role != RoleServer && c.Role != RoleClient:
		return bad("role %q must be %q or %q", c.Role, RoleServer, RoleClient)
	case c.Role == RoleServer && !serfpool.ValidPort(c.RPCPort, false):
		return bad("server RPC port %d must be within 1-65535", c.RPCPort)
	case c.BootstrapExpect < 0:
		return bad("bootstrap-expect %d is negative", c.BootstrapExpect)
	case c.Role != RoleServer && (c.BootstrapExpect > 0 || c.Bootstrap):
		return bad("bootstrap and bootstrap-expect apply to servers only")
	case c.Bootstrap && c.BootstrapExpect > 0:
		return bad("bootstrap and bootstrap-expect are mutually exclusive")
	case c.Profile != "" && c.Profile != ProfileLAN && c.Profile != ProfileLocal:
		return bad("profile %q must be %q or %q", c.Profile, ProfileLAN, ProfileLocal)
	case c.EventBuffer < 0:
		return bad("event buffer %d is negative", c.EventBuffer)
	}
	return nil
}

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Profile == "" {
		c.Profile = ProfileLAN
	}
	c.ReconnectTimeout, c.TombstoneTimeout = serfpool.DefaultTimeouts(c.ReconnectTimeout, c.TombstoneTimeout)
	if c.EventBuffer == 0 {
		c.EventBuffer = defaultEventBuffer
	}
	c.EncryptKey = append([]byte(nil), c.EncryptKey...)
	return c
}

// poolConfig returns the serf pool's configuration for c: a LAN member is
// named after its node, with the tags of its role. The Pool adds the merge
// delegate, the event handler and the logger.
func (c *Config) poolConfig() serfpool.Config {
	return serfpool.Config{
		Kind:             "lan",
		NodeName:         c.NodeName,
		NodeID:           c.NodeID,
		Datacenter:       c.Datacenter,
		MemberName:       c.NodeName,
		Tags:             buildTags(c),
		BindAddr:         c.BindAddr,
		BindPort:         c.BindPort,
		AdvertiseAddr:    c.AdvertiseAddr,
		AdvertisePort:    c.AdvertisePort,
		Transport:        c.Transport,
		JoinPort:         DefaultPort,
		Profile:          c.Profile,
		EncryptKey:       c.EncryptKey,
		KeyringFile:      c.KeyringFile,
		SnapshotPath:     c.SnapshotPath,
		RejoinAfterLeave: c.RejoinAfterLeave,
		ReconnectTimeout: c.ReconnectTimeout,
		TombstoneTimeout: c.TombstoneTimeout,
		StartedAttrs:     []any{"role", c.Role},
		Errors: serfpool.Errors{
			NotStarted:     ErrNotStarted,
			AlreadyStarted: ErrAlreadyStarted,
			Shutdown:       ErrShutdown,
			UnknownMember:  ErrUnknownMember,
		},
	}
}

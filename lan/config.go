package lan

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/hashicorp/memberlist"
)

// Roles of an agent in the pool.
const (
	RoleServer = "server"
	RoleClient = "client"
)

// Profiles select memberlist's timing defaults.
const (
	// ProfileLAN is memberlist.DefaultLANConfig: production timings.
	ProfileLAN = "lan"
	// ProfileLocal is memberlist.DefaultLocalConfig: fast failure
	// detection for loopback tests and dev agents.
	ProfileLocal = "local"
)

// DefaultPort is the serf LAN port (TCP and UDP), also used for join
// addresses that name no port.
const DefaultPort = 8301

// Defaults for the reconnect and tombstone timeouts (Consul's values).
const (
	DefaultReconnectTimeout = 72 * time.Hour
	DefaultTombstoneTimeout = 24 * time.Hour
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

// dcNameRE is what a datacenter name may contain (as Consul).
var dcNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.NodeName == "":
		return bad("node name is required")
	case len(c.NodeName) > 128:
		return bad("node name %q is longer than 128 bytes", c.NodeName)
	case c.NodeID == "":
		return bad("node ID is required")
	case !dcNameRE.MatchString(c.Datacenter):
		return bad("datacenter %q must be letters, digits, '-' or '_'", c.Datacenter)
	case c.Role != RoleServer && c.Role != RoleClient:
		return bad("role %q must be %q or %q", c.Role, RoleServer, RoleClient)
	case c.Transport == nil && net.ParseIP(c.BindAddr) == nil:
		return bad("bind address %q is not an IP address", c.BindAddr)
	case c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil:
		return bad("advertise address %q is not an IP address", c.AdvertiseAddr)
	case !validPort(c.BindPort, true), !validPort(c.AdvertisePort, true):
		return bad("ports must be within 0-65535 (bind %d, advertise %d)", c.BindPort, c.AdvertisePort)
	case c.Role == RoleServer && !validPort(c.RPCPort, false):
		return bad("server RPC port %d must be within 1-65535", c.RPCPort)
	case c.BootstrapExpect < 0:
		return bad("bootstrap-expect %d is negative", c.BootstrapExpect)
	case c.Role != RoleServer && (c.BootstrapExpect > 0 || c.Bootstrap):
		return bad("bootstrap and bootstrap-expect apply to servers only")
	case c.Bootstrap && c.BootstrapExpect > 0:
		return bad("bootstrap and bootstrap-expect are mutually exclusive")
	case c.Profile != "" && c.Profile != ProfileLAN && c.Profile != ProfileLocal:
		return bad("profile %q must be %q or %q", c.Profile, ProfileLAN, ProfileLocal)
	case len(c.EncryptKey) != 0 && len(c.EncryptKey) != 16 && len(c.EncryptKey) != 24 && len(c.EncryptKey) != 32:
		return bad("encryption key is %d bytes, want 16, 24 or 32", len(c.EncryptKey))
	case c.ReconnectTimeout < 0 || c.TombstoneTimeout < 0:
		return bad("reconnect and tombstone timeouts must not be negative")
	case c.EventBuffer < 0:
		return bad("event buffer %d is negative", c.EventBuffer)
	}
	return nil
}

func validPort(p int, zeroOK bool) bool {
	if p == 0 {
		return zeroOK
	}
	return p > 0 && p <= 65535
}

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Profile == "" {
		c.Profile = ProfileLAN
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = DefaultReconnectTimeout
	}
	if c.TombstoneTimeout == 0 {
		c.TombstoneTimeout = DefaultTombstoneTimeout
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = defaultEventBuffer
	}
	c.EncryptKey = append([]byte(nil), c.EncryptKey...)
	return c
}

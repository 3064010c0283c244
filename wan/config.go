package wan

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profiles select memberlist's timing defaults.
const (
	// ProfileWAN is memberlist.DefaultWANConfig: timings for links between
	// datacenters (probe every 5 s, failure declared after about 30 s).
	ProfileWAN = "wan"
	// ProfileLocal is memberlist.DefaultLocalConfig: fast failure detection
	// (a few seconds) for loopback tests and local federations.
	ProfileLocal = "local"
)

// DefaultPort is the serf WAN port (TCP and UDP), also used for join
// addresses that name no port.
const DefaultPort = 8302

// Defaults (Consul's values for the WAN pool, and the router's clock).
const (
	DefaultReconnectTimeout = 72 * time.Hour
	DefaultTombstoneTimeout = 24 * time.Hour
	// DefaultRouterTick is how often the pool refreshes the router's
	// coordinates and advances its clock.
	DefaultRouterTick = time.Second
	// DefaultFailureHold is how long a server marked failed after an RPC
	// transport error is left out of routing unless gossip sees it again.
	DefaultFailureHold = 10 * time.Second
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid wan config")

// Config configures a Pool. The zero value is not usable; start from
// DefaultConfig. Only servers join the WAN pool, so every member is a
// server.
type Config struct {
	// NodeName is the server's node name, without datacenter; its WAN
	// member name is NodeName + "." + Datacenter. Required.
	NodeName string
	// NodeID is the node's unique ID (its Raft ID), carried in the "id" tag.
	// Required. The same ID as in the LAN pool makes the LAN pool refuse
	// this WAN member if an operator joins it to a LAN address by mistake.
	NodeID string
	// Datacenter is this server's datacenter. Required.
	Datacenter string

	// BindAddr and BindPort are where memberlist listens (TCP and UDP) when
	// Transport is nil. BindAddr must be an IP; BindPort 0 picks a free port.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other servers dial
	// (-advertise-wan); empty/0 derives them from the bind address. The
	// advertised IP is also the IP of the server's RPC address as other
	// datacenters see it (Consul's rule).
	AdvertiseAddr string
	AdvertisePort int

	// RPCPort is the server RPC port advertised in the "port" tag.
	RPCPort int
	// Version is the build version advertised in the "build" tag.
	Version string

	// SnapshotPath is serf's snapshot file (Consul: serf/remote.snapshot),
	// used to rejoin the known servers after a restart; "" keeps none.
	SnapshotPath string
	// RejoinAfterLeave rejoins the snapshot's members on start even after a
	// graceful leave.
	RejoinAfterLeave bool

	// Profile is ProfileWAN (default when empty) or ProfileLocal.
	Profile string
	// EncryptKey is the gossip encryption key (16, 24 or 32 bytes), the same
	// as the LAN pool's; nil gossips in clear.
	EncryptKey []byte

	// ReconnectTimeout is how long a failed member is retried before it is
	// reaped; TombstoneTimeout is how long a left member is remembered.
	// Zero means the defaults above.
	ReconnectTimeout time.Duration
	TombstoneTimeout time.Duration

	// RouterTick is how often the pool feeds the router fresh coordinates
	// and advances its clock; FailureHold is how long a server marked
	// failed by Router.MarkFailed stays out of routing (rounded up to whole
	// ticks). Zero means the defaults above.
	RouterTick  time.Duration
	FailureHold time.Duration

	// Logger receives the pool's and the libraries' logs; nil discards.
	Logger *slog.Logger
	// Transport replaces memberlist's own UDP/TCP transport (fault-injection
	// tests, in-memory networks). Memberlist shuts it down with the pool.
	Transport memberlist.NodeAwareTransport
}

// DefaultConfig returns a configuration for datacenter dc1 on the default
// WAN port with the WAN profile; NodeName and NodeID must still be set.
func DefaultConfig() Config {
	return Config{
		Datacenter:       "dc1",
		BindAddr:         "0.0.0.0",
		BindPort:         DefaultPort,
		RPCPort:          8300,
		Profile:          ProfileWAN,
		ReconnectTimeout: DefaultReconnectTimeout,
		TombstoneTimeout: DefaultTombstoneTimeout,
		RouterTick:       DefaultRouterTick,
		FailureHold:      DefaultFailureHold,
	}
}

// dcNameRE is what a datacenter name may contain (as Consul); no dots, so
// the last dot of a member name separates node and datacenter.
var dcNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ValidDatacenter reports whether dc is a well-formed datacenter name.
func ValidDatacenter(dc string) bool { return dcNameRE.MatchString(dc) }

// MemberName returns the WAN member name of node in datacenter dc.
func MemberName(node, dc string) string { return node + "." + dc }

// SplitMemberName splits a WAN member name "node.dc" at its last dot. It
// reports false when either part is empty or dc is not a valid datacenter
// name.
func SplitMemberName(name string) (node, dc string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return "", "", false
	}
	node, dc = name[:i], name[i+1:]
	return node, dc, ValidDatacenter(dc)
}

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
	case !ValidDatacenter(c.Datacenter):
		return bad("datacenter %q must be letters, digits, '-' or '_'", c.Datacenter)
	case c.Transport == nil && net.ParseIP(c.BindAddr) == nil:
		return bad("bind address %q is not an IP address", c.BindAddr)
	case c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil:
		return bad("advertise address %q is not an IP address", c.AdvertiseAddr)
	case !validPort(c.BindPort, true), !validPort(c.AdvertisePort, true):
		return bad("ports must be within 0-65535 (bind %d, advertise %d)", c.BindPort, c.AdvertisePort)
	case !validPort(c.RPCPort, false):
		return bad("server RPC port %d must be within 1-65535", c.RPCPort)
	case c.Profile != "" && c.Profile != ProfileWAN && c.Profile != ProfileLocal:
		return bad("profile %q must be %q or %q", c.Profile, ProfileWAN, ProfileLocal)
	case len(c.EncryptKey) != 0 && len(c.EncryptKey) != 16 && len(c.EncryptKey) != 24 && len(c.EncryptKey) != 32:
		return bad("encryption key is %d bytes, want 16, 24 or 32", len(c.EncryptKey))
	case c.ReconnectTimeout < 0 || c.TombstoneTimeout < 0:
		return bad("reconnect and tombstone timeouts must not be negative")
	case c.RouterTick < 0 || c.FailureHold < 0:
		return bad("router tick and failure hold must not be negative")
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
		c.Profile = ProfileWAN
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = DefaultReconnectTimeout
	}
	if c.TombstoneTimeout == 0 {
		c.TombstoneTimeout = DefaultTombstoneTimeout
	}
	if c.RouterTick == 0 {
		c.RouterTick = DefaultRouterTick
	}
	if c.FailureHold == 0 {
		c.FailureHold = DefaultFailureHold
	}
	c.EncryptKey = append([]byte(nil), c.EncryptKey...)
	return c
}

// memberName is this server's WAN member name.
func (c *Config) memberName() string { return MemberName(c.NodeName, c.Datacenter) }

// holdTicks is FailureHold in whole router ticks (at least one).
func (c *Config) holdTicks() int {
	return max(1, int((c.FailureHold+c.RouterTick-1)/c.RouterTick))
}

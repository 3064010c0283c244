package wan

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meridian-io/meridian/internal/serfpool"
)

// Profiles select memberlist's timing defaults.
const (
	// ProfileWAN is memberlist.DefaultWANConfig: timings for links between
	// datacenters (probe every 5 s, failure declared after about 30 s).
	ProfileWAN = serfpool.ProfileWAN
	// ProfileLocal is memberlist.DefaultLocalConfig: fast failure detection
	// (a few seconds) for loopback tests and local federations.
	ProfileLocal = serfpool.ProfileLocal
)

// DefaultPort is the serf WAN port (TCP and UDP), also used for join
// addresses that name no port.
const DefaultPort = 8302

// Defaults (Consul's values for the WAN pool, and the router's clock).
const (
	DefaultReconnectTimeout = serfpool.DefaultReconnectTimeout
	DefaultTombstoneTimeout = serfpool.DefaultTombstoneTimeout
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
	// KeyringFile keeps the keyring across restarts once it is rotated
	// (Consul: serf/local.keyring, serf/remote.keyring); when it exists it
	// is the keyring and EncryptKey is ignored. "" keeps none.
	KeyringFile string

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

// ValidDatacenter reports whether dc is a well-formed datacenter name
// (as Consul): letters, digits, '-' and '_', no dots, so the last dot of a
// member name separates node and datacenter.
func ValidDatacenter(dc string) bool { return serfpool.ValidDatacenter(dc) }

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
	pc := c.poolConfig()
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch {
	case !serfpool.ValidPort(c.RPCPort, false):
		return bad("server RPC port %d must be within 1-65535", c.RPCPort)
	case c.Profile != "" && c.Profile != ProfileWAN && c.Profile != ProfileLocal:
		return bad("profile %q must be %q or %q", c.Profile, ProfileWAN, ProfileLocal)
	case c.RouterTick < 0 || c.FailureHold < 0:
		return bad("router tick and failure hold must not be negative")
	}
	return nil
}

// withDefaults returns a copy of c with zero values replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Profile == "" {
		c.Profile = ProfileWAN
	}
	c.ReconnectTimeout, c.TombstoneTimeout = serfpool.DefaultTimeouts(c.ReconnectTimeout, c.TombstoneTimeout)
	if c.RouterTick == 0 {
		c.RouterTick = DefaultRouterTick
	}
	if c.FailureHold == 0 {
		c.FailureHold = DefaultFailureHold
	}
	c.EncryptKey = append([]byte(nil), c.EncryptKey...)
	return c
}

// poolConfig returns the serf pool's configuration for c: a WAN member is
// named "node.dc", tagged as a server, and only WAN servers may merge. The
// Pool adds the event loop's handlers and the logger.
func (c *Config) poolConfig() serfpool.Config {
	return serfpool.Config{
		Kind:             "wan",
		NodeName:         c.NodeName,
		NodeID:           c.NodeID,
		Datacenter:       c.Datacenter,
		MemberName:       c.memberName(),
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
		Merge:            mergeDelegate{},
		Errors: serfpool.Errors{
			NotStarted:     ErrNotStarted,
			AlreadyStarted: ErrAlreadyStarted,
			Shutdown:       ErrShutdown,
			UnknownMember:  ErrUnknownMember,
		},
	}
}

// memberName is this server's WAN member name.
func (c *Config) memberName() string { return MemberName(c.NodeName, c.Datacenter) }

// holdTicks is FailureHold in whole router ticks (at least one).
func (c *Config) holdTicks() int {
	return max(1, int((c.FailureHold+c.RouterTick-1)/c.RouterTick))
}

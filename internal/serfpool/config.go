package serfpool

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Profiles select memberlist's timing defaults.
const (
	// ProfileLAN is memberlist.DefaultLANConfig: timings within a
	// datacenter.
	ProfileLAN = "lan"
	// ProfileWAN is memberlist.DefaultWANConfig: timings for links between
	// datacenters (probe every 5 s, failure declared after about 30 s).
	ProfileWAN = "wan"
	// ProfileLocal is memberlist.DefaultLocalConfig: fast failure
	// detection for loopback tests, dev agents and local federations.
	ProfileLocal = "local"
)

// Defaults for the reconnect and tombstone timeouts (Consul's values).
const (
	DefaultReconnectTimeout = 72 * time.Hour
	DefaultTombstoneTimeout = 24 * time.Hour
)

// Errors are the lifecycle errors of one kind of pool: each pool names its
// own, so that callers can tell a LAN pool's shutdown from a WAN pool's.
type Errors struct {
	NotStarted     error // before Start
	AlreadyStarted error // a second Start
	Shutdown       error // after (or during) Shutdown
	UnknownMember  error // ForceLeave of a name the pool does not know
}

// Config configures a Pool. Its owner validates it (Validate checks the
// fields every pool checks alike) and fills it; New copies it.
type Config struct {
	// Kind names the pool in log messages and errors ("lan", "wan").
	Kind string
	// NodeName, NodeID and Datacenter identify this node.
	NodeName   string
	NodeID     string
	Datacenter string
	// MemberName is this node's name in the pool (serf's node name).
	MemberName string
	// Tags are this node's serf tags.
	Tags map[string]string

	// BindAddr, BindPort, AdvertiseAddr and AdvertisePort: where memberlist
	// listens when Transport is nil, and what other members dial.
	BindAddr      string
	BindPort      int
	AdvertiseAddr string
	AdvertisePort int
	// Transport replaces memberlist's own UDP/TCP transport; memberlist
	// shuts it down with the pool.
	Transport memberlist.NodeAwareTransport
	// JoinPort is the port of join addresses that name none.
	JoinPort int

	// Profile is ProfileLAN, ProfileWAN or ProfileLocal.
	Profile string
	// EncryptKey is the gossip encryption key; nil gossips in clear.
	EncryptKey []byte
	// KeyringFile is where the keyring is kept across restarts once it
	// changes (serf writes it after InstallKey, UseKey and RemoveKey, the
	// primary key first). When it exists at Start it is the keyring, and
	// EncryptKey is ignored, as with Consul's serf/*.keyring. "" keeps none.
	KeyringFile string
	// SnapshotPath is serf's snapshot file; "" keeps none.
	SnapshotPath     string
	RejoinAfterLeave bool
	ReconnectTimeout time.Duration
	TombstoneTimeout time.Duration

	// Merge vets members before they enter the pool. It runs under
	// memberlist's locks and must not call back into the pool.
	Merge serf.MergeDelegate

	// OnEvent receives every event serf reports but queries, in order, on
	// the pool's event loop; it must not block for long.
	OnEvent func(Event)
	// OnTick, when Tick > 0, is called every Tick on the same loop.
	Tick   time.Duration
	OnTick func(*serf.Serf)

	// Logger receives the pool's and the libraries' logs; nil discards.
	Logger *slog.Logger
	// StartedAttrs are extra attributes of the "pool started" log line.
	StartedAttrs []any
	// Errors are the errors the pool returns for lifecycle misuse.
	Errors Errors
}

// dcNameRE is what a datacenter name may contain (as Consul); no dots, so
// the last dot of a WAN member name separates node and datacenter.
var dcNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ValidDatacenter reports whether dc is a well-formed datacenter name.
func ValidDatacenter(dc string) bool { return dcNameRE.MatchString(dc) }

// ValidPort reports whether p is a port, 0 included when zeroOK.
func ValidPort(p int, zeroOK bool) bool {
	if p == 0 {
		return zeroOK
	}
	return p > 0 && p <= 65535
}

// Validate reports the first problem with the fields that every pool
// checks alike: identity, addresses and ports, key and timeouts. The owner
// checks its own fields (profile, role, ...) and wraps the error.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("node name is required")
	case len(c.NodeName) > 128:
		return fmt.Errorf("node name %q is longer than 128 bytes", c.NodeName)
	case c.NodeID == "":
		return errors.New("node ID is required")
	case !ValidDatacenter(c.Datacenter):
		return fmt.Errorf("datacenter %q must be letters, digits, '-' or '_'", c.Datacenter)
	case c.Transport == nil && net.ParseIP(c.BindAddr) == nil:
		return fmt.Errorf("bind address %q is not an IP address", c.BindAddr)
	case c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil:
		return fmt.Errorf("advertise address %q is not an IP address", c.AdvertiseAddr)
	case !ValidPort(c.BindPort, true), !ValidPort(c.AdvertisePort, true):
		return fmt.Errorf("ports must be within 0-65535 (bind %d, advertise %d)", c.BindPort, c.AdvertisePort)
	case len(c.EncryptKey) != 0 && len(c.EncryptKey) != 16 && len(c.EncryptKey) != 24 && len(c.EncryptKey) != 32:
		return fmt.Errorf("encryption key is %d bytes, want 16, 24 or 32", len(c.EncryptKey))
	case c.ReconnectTimeout < 0 || c.TombstoneTimeout < 0:
		return errors.New("reconnect and tombstone timeouts must not be negative")
	}
	return nil
}

// DefaultTimeouts returns reconnect and tombstone with zeros replaced by the
// defaults.
func DefaultTimeouts(reconnect, tombstone time.Duration) (time.Duration, time.Duration) {
	if reconnect == 0 {
		reconnect = DefaultReconnectTimeout
	}
	if tombstone == 0 {
		tombstone = DefaultTombstoneTimeout
	}
	return reconnect, tombstone
}

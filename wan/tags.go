package wan

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Serf tag names, as Consul spells them (the same names as package lan's).
const (
	TagRole        = "role"     // always TagRoleServer in the WAN pool
	TagDatacenter  = "dc"       // datacenter name, also the member name's suffix
	TagPort        = "port"     // server RPC port
	TagID          = "id"       // node ID (the server's Raft ID)
	TagBuild       = "build"    // build version
	TagVersion     = "vsn"      // protocol version spoken
	TagVersionMin  = "vsn_min"  // lowest protocol version understood
	TagVersionMax  = "vsn_max"  // highest protocol version understood
	TagRaftVersion = "raft_vsn" // Raft protocol version
)

// TagRoleServer is TagRole's value for a server ("consul", as Consul).
const TagRoleServer = "consul"

// Protocol versions advertised in the vsn tags (Consul's current values,
// the same as the LAN pool's).
const (
	ProtocolVersion    = 2
	ProtocolVersionMin = 2
	ProtocolVersionMax = 3
	RaftVersion        = 3
)

// Reasons a member is refused or ignored. Memberlist reports a refusal to
// the joining side as text, so Join errors cannot be matched with errors.Is
// across the wire; the text carries these messages.
var (
	ErrBadMemberName = errors.New("WAN member name is not <node>.<datacenter>")
	ErrNotServer     = errors.New("WAN member is not a server")
)

// buildTags returns the serf tags that describe this server.
func buildTags(c *Config) map[string]string {
	return map[string]string{
		TagRole:        TagRoleServer,
		TagDatacenter:  c.Datacenter,
		TagPort:        strconv.Itoa(c.RPCPort),
		TagID:          c.NodeID,
		TagBuild:       c.Version,
		TagVersion:     strconv.Itoa(ProtocolVersion),
		TagVersionMin:  strconv.Itoa(ProtocolVersionMin),
		TagVersionMax:  strconv.Itoa(ProtocolVersionMax),
		TagRaftVersion: strconv.Itoa(RaftVersion),
	}
}

// Server is a server of some datacenter as routing needs it.
type Server struct {
	// Name is the WAN member name, "node.dc".
	Name string
	// Node is the server's node name (Name without ".dc").
	Node       string
	Datacenter string
	ID         string
	// Addr is the server's RPC address, ip:port: the member's gossip IP and
	// the "port" tag.
	Addr  string
	Build string
	// RTT is the estimated round-trip time from this server, valid when
	// HasRTT (both coordinates known).
	RTT    time.Duration
	HasRTT bool
}

// ServerFromMember interprets a WAN member as a server. The error wraps
// ErrBadMemberName when the name is not "node.dc" with dc equal to the "dc"
// tag, and ErrNotServer when the tags are not a server's (role, RPC port)
// or the member has no address.
func ServerFromMember(m Member) (Server, error) {
	node, dc, ok := SplitMemberName(m.Name)
	if !ok {
		return Server{}, fmt.Errorf("%w: %q", ErrBadMemberName, m.Name)
	}
	if tag := m.Tags[TagDatacenter]; tag != dc {
		return Server{}, fmt.Errorf("%w: %q says datacenter %q in its tags", ErrBadMemberName, m.Name, tag)
	}
	if role := m.Tags[TagRole]; role != TagRoleServer {
		return Server{}, fmt.Errorf("%w: %q has role %q", ErrNotServer, m.Name, role)
	}
	port, err := strconv.Atoi(m.Tags[TagPort])
	if err != nil || port < 1 || port > 65535 {
		return Server{}, fmt.Errorf("%w: %q has RPC port %q", ErrNotServer, m.Name, m.Tags[TagPort])
	}
	if len(m.Addr) == 0 {
		return Server{}, fmt.Errorf("%w: %q has no address", ErrNotServer, m.Name)
	}
	return Server{
		Name:       m.Name,
		Node:       node,
		Datacenter: dc,
		ID:         m.Tags[TagID],
		Addr:       net.JoinHostPort(m.Addr.String(), strconv.Itoa(port)),
		Build:      m.Tags[TagBuild],
	}, nil
}

package lan

import (
	"net"
	"strconv"
)

// Serf tag names, as Consul spells them.
const (
	TagRole        = "role"      // TagRoleServer or TagRoleClient
	TagDatacenter  = "dc"        // datacenter name
	TagPort        = "port"      // server RPC port
	TagID          = "id"        // node ID (the server's Raft ID)
	TagExpect      = "expect"    // bootstrap-expect, servers only
	TagBootstrap   = "bootstrap" // "1" on a -bootstrap server
	TagBuild       = "build"     // build version
	TagVersion     = "vsn"       // protocol version spoken
	TagVersionMin  = "vsn_min"   // lowest protocol version understood
	TagVersionMax  = "vsn_max"   // highest protocol version understood
	TagRaftVersion = "raft_vsn"  // Raft protocol version, servers only
)

// Values of TagRole: Consul calls servers "consul" and clients "node".
const (
	TagRoleServer = "consul"
	TagRoleClient = "node"
)

// Protocol versions advertised in the vsn tags (Consul's current values).
const (
	ProtocolVersion    = 2
	ProtocolVersionMin = 2
	ProtocolVersionMax = 3
	RaftVersion        = 3
)

// buildTags returns the serf tags that describe this agent.
func buildTags(c *Config) map[string]string {
	tags := map[string]string{
		TagRole:       TagRoleClient,
		TagDatacenter: c.Datacenter,
		TagID:         c.NodeID,
		TagBuild:      c.Version,
		TagVersion:    strconv.Itoa(ProtocolVersion),
		TagVersionMin: strconv.Itoa(ProtocolVersionMin),
		TagVersionMax: strconv.Itoa(ProtocolVersionMax),
	}
	if c.Role == RoleServer {
		tags[TagRole] = TagRoleServer
		tags[TagPort] = strconv.Itoa(c.RPCPort)
		tags[TagRaftVersion] = strconv.Itoa(RaftVersion)
		if c.BootstrapExpect > 0 {
			tags[TagExpect] = strconv.Itoa(c.BootstrapExpect)
		}
		if c.Bootstrap {
			tags[TagBootstrap] = "1"
		}
	}
	return tags
}

// Server is a server member of the pool as the RPC and bootstrap logic need
// it.
type Server struct {
	Name string
	ID   string
	// Addr is the server's RPC address, ip:port.
	Addr            string
	Datacenter      string
	BootstrapExpect int
	Bootstrap       bool
	Build           string
	Status          Status
}

// ServerFromMember interprets m as a server. It reports false when m is not
// a server or its tags are unusable (no valid RPC port).
func ServerFromMember(m Member) (Server, bool) {
	if m.Tags[TagRole] != TagRoleServer || m.Addr == nil {
		return Server{}, false
	}
	port, err := strconv.Atoi(m.Tags[TagPort])
	if err != nil || port < 1 || port > 65535 {
		return Server{}, false
	}
	expect := 0
	if v, ok := m.Tags[TagExpect]; ok {
		if expect, err = strconv.Atoi(v); err != nil || expect < 0 {
			return Server{}, false
		}
	}
	return Server{
		Name:            m.Name,
		ID:              m.Tags[TagID],
		Addr:            net.JoinHostPort(m.Addr.String(), strconv.Itoa(port)),
		Datacenter:      m.Tags[TagDatacenter],
		BootstrapExpect: expect,
		Bootstrap:       m.Tags[TagBootstrap] == "1",
		Build:           m.Tags[TagBuild],
		Status:          m.Status,
	}, true
}

// serversOf returns the alive servers of datacenter dc among members.
func serversOf(members []Member, dc string) []Server {
	var out []Server
	for _, m := range members {
		if m.Status != StatusAlive || m.Tags[TagDatacenter] != dc {
			continue
		}
		if s, ok := ServerFromMember(m); ok {
			out = append(out, s)
		}
	}
	return out
}

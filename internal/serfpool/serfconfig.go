package serfpool

import (
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/telemetry"
)

// serfEventBuffer is the capacity of the channel serf writes events to.
// Serf blocks on it while holding its member lock, so it is large and the
// event loop drains it promptly; it also absorbs events serf emits while it
// shuts down after the loop has stopped.
const serfEventBuffer = 2048

// deadNodeReclaimTime lets a node that failed rejoin under the same name
// from a new address after this long.
const deadNodeReclaimTime = 30 * time.Second

// localLeavePropagateDelay is how long a leaving node of a local-profile
// pool keeps gossiping its departure.
const localLeavePropagateDelay = 500 * time.Millisecond

// memberlistConfig returns memberlist's defaults for profile.
//
// The local profile keeps memberlist's local timings (a probe every
// second, gossip every 100 ms, short suspicion) but the LAN profile's
// redundancy. memberlist's local defaults send a broadcast only twice per
// factor of ten members (RetransmitMult 2) and probe through one other
// member (IndirectChecks 1): in a pool of five, where a node declared dead
// stays a gossip target for 15 s, a "dead" or "suspect" message missed a
// member often enough that it waited out the longest suspicion (18 s, no
// confirmations), and on a loaded machine one slow indirect probe was
// enough to suspect a live member that then had no time to refute.
func memberlistConfig(profile string) *memberlist.Config {
	switch profile {
	case ProfileLocal:
		c := memberlist.DefaultLocalConfig()
		lan := memberlist.DefaultLANConfig()
		c.IndirectChecks, c.RetransmitMult = lan.IndirectChecks, lan.RetransmitMult
		return c
	case ProfileWAN:
		return memberlist.DefaultWANConfig()
	default:
		return memberlist.DefaultLANConfig()
	}
}

// serfConfig builds serf's configuration from the pool's.
func (p *Pool) serfConfig() *serf.Config {
	c := &p.cfg
	std := logging.StdLogger(p.logger)

	ml := memberlistConfig(c.Profile)
	ml.BindAddr = c.BindAddr
	ml.BindPort = c.BindPort
	ml.AdvertiseAddr = c.AdvertiseAddr
	ml.AdvertisePort = c.AdvertisePort
	ml.Transport = c.Transport
	ml.DeadNodeReclaimTime = deadNodeReclaimTime
	ml.LogOutput = nil
	ml.Logger = std
	if len(c.EncryptKey) > 0 {
		ml.SecretKey = c.EncryptKey
	}

	sc := serf.DefaultConfig()
	sc.NodeName = c.MemberName
	sc.Tags = c.Tags
	sc.EventCh = p.serfEvents
	sc.SnapshotPath = c.SnapshotPath
	sc.RejoinAfterLeave = c.RejoinAfterLeave
	sc.ReconnectTimeout = c.ReconnectTimeout
	sc.TombstoneTimeout = c.TombstoneTimeout
	sc.Merge = c.Merge
	sc.LogOutput = nil
	sc.Logger = std
	sc.MemberlistConfig = ml
	// Consul's label keeps the metrics of the LAN and WAN pools apart
	// (consul.serf.member.flap{network="wan"}); the agent label sends
	// them to this agent's metrics alone (see telemetry.Attach).
	labels := []metrics.Label{
		{Name: "network", Value: c.Kind},
		{Name: telemetry.AgentLabel, Value: telemetry.AgentID(c.Datacenter, c.NodeName)},
	}
	sc.MetricLabels, ml.MetricLabels = labels, labels
	if c.Profile == ProfileLocal {
		// Loopback pools converge in milliseconds, but a leaving node must keep
		// gossiping its departure long enough for every member to hear it
		// (at 100 ms, members of a loaded machine missed it and took the
		// node for failed).
		sc.LeavePropagateDelay = localLeavePropagateDelay
		sc.ReapInterval = time.Second
		sc.ReconnectInterval = time.Second
	}
	return sc
}

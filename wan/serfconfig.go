package wan

import (
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/logging"
)

// serfEventBuffer is the capacity of the channel serf writes events to.
// Serf blocks on it while holding its member lock, so it is large and the
// event loop drains it promptly; it also absorbs events serf emits while it
// shuts down after the loop has stopped.
const serfEventBuffer = 2048

// deadNodeReclaimTime lets a server that failed rejoin under the same name
// from a new address after this long.
const deadNodeReclaimTime = 30 * time.Second

// serfConfig builds serf's configuration from the pool's.
func (p *Pool) serfConfig() *serf.Config {
	c := &p.cfg
	std := logging.StdLogger(p.logger)

	ml := memberlist.DefaultWANConfig()
	if c.Profile == ProfileLocal {
		ml = memberlist.DefaultLocalConfig()
	}
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
	sc.NodeName = p.name
	sc.Tags = buildTags(c)
	sc.EventCh = p.serfEvents
	sc.SnapshotPath = c.SnapshotPath
	sc.RejoinAfterLeave = c.RejoinAfterLeave
	sc.ReconnectTimeout = c.ReconnectTimeout
	sc.TombstoneTimeout = c.TombstoneTimeout
	sc.Merge = mergeDelegate{}
	sc.LogOutput = nil
	sc.Logger = std
	sc.MemberlistConfig = ml
	if c.Profile == ProfileLocal {
		// Loopback pools converge in milliseconds, but a leaving node must keep
		// gossiping its departure long enough for every member to hear it
		// (at 100 ms, members of a loaded machine missed it and took the
		// node for failed).
		sc.LeavePropagateDelay = 500 * time.Millisecond
		sc.ReapInterval = time.Second
		sc.ReconnectInterval = time.Second
	}
	return sc
}

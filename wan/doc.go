// Package wan runs a server's membership in the WAN gossip pool that the
// servers of every datacenter join, and routes requests by datacenter name.
//
// Pool is the serf pool (memberlist's WAN profile, port 8302): each server
// is the member "<node>.<dc>", tagged as a server of its datacenter with its
// RPC port, node ID and version (Consul's tag names, as package lan uses).
// It refuses members whose name lacks the ".dc" suffix of their "dc" tag or
// whose tags are not a server's. Router maps a datacenter name to its alive
// servers, nearest first by serf's WAN coordinates, and lists datacenters
// nearest first with the local one first; it is a pure state machine fed
// events, and the Pool's event loop keeps the Pool's Router current.
//
// The agent of a server uses it like this:
//
//	cfg := wan.DefaultConfig()
//	cfg.NodeName, cfg.NodeID, cfg.Datacenter = node, id, dc
//	cfg.BindAddr, cfg.BindPort = bind, serfWANPort       // -serf-wan-port
//	cfg.AdvertiseAddr, cfg.AdvertisePort = advWAN, port  // -advertise-wan
//	cfg.RPCPort = serverPort                             // what others dial
//	cfg.EncryptKey = key                                 // the LAN pool's "encrypt"
//	cfg.SnapshotPath = filepath.Join(dataDir, "serf", "remote.snapshot")
//	cfg.Profile = wan.ProfileLocal                       // dev / loopback only
//	pool, err := wan.New(cfg)                            // nothing started yet
//	err = pool.Start(ctx)                                // sockets + event loop
//	n, err := pool.Join(addrs)                           // -join-wan, /v1/agent/join?wan=1
//	done := pool.RetryJoin(addrs, interval, max)         // -retry-join-wan; result once
//	router := pool.Router()                              // hand to dc's forwarding
//	...
//	pool.Leave()                                         // graceful: others forget us
//	pool.Shutdown()                                      // stops every goroutine
//
// Forwarding asks router.ServersFor(dc): an error wrapping ErrNoPathToDC
// means no server of dc is known (Consul's "No path to datacenter"); one
// wrapping ErrNoServers means dc is known but has no routable server now.
// Otherwise it tries the servers in order; after a transport error to one
// it calls router.MarkFailed(server.Name) and tries the next, and after a
// success router.MarkHealthy(server.Name). Marks expire after FailureHold.
// router.Datacenters() answers /v1/catalog/datacenters. When every server
// of dc failed this server's RPCs while gossip still sees some alive,
// router.RelaysFor(dc) names the servers of third datacenters to relay
// through, best estimated path (RTT to the relay + relay to dc) first.
//
// The serf machinery it shares with the LAN pool (lifecycle, joins, serf
// configuration per profile, members, the event loop) is
// internal/serfpool's; this package adds what makes the pool a WAN pool.
// It knows nothing of Raft, the catalog or RPC: it must not import raft,
// store, rpc, lan, dc, health or agent; only internal/logging and
// internal/serfpool.
package wan

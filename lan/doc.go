// Package lan runs a datacenter's LAN gossip pool: a serf cluster that every
// agent of the datacenter, server or client, joins. It advertises each
// member's role, datacenter, RPC port, node ID and bootstrap settings as serf
// tags (Consul's tag names), refuses members of another datacenter and
// duplicate node IDs, reports membership (Members, Servers) and fans serf's
// events out to subscribers without ever blocking serf. Consumers — the
// server's leader loop, a client's server discovery, the HTTP API — build on
// it. The serf machinery it shares with the WAN pool (lifecycle, joins, serf
// configuration per profile, members, the event loop) is internal/serfpool's.
// It knows nothing of Raft, the catalog or RPC: it must not import raft,
// store, rpc, dc, health or agent; only internal/logging and
// internal/serfpool.
package lan

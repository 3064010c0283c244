// Package serfpool runs one serf gossip pool: the machinery that the LAN
// pool (package lan) and the WAN pool (package wan) share. It builds serf's
// and memberlist's configuration from a profile (LAN, WAN or local timings,
// encryption key, snapshot, logging adapters), owns the pool's lifecycle
// (Start, Leave, Shutdown, and every goroutine in between), joins and
// retry-joins, force-leaves, lists members with Consul's statuses, and runs
// the one event loop that hands serf's events, converted, to its owner.
//
// What makes a pool a LAN or a WAN pool stays with its owner: member names
// and tags, the merge delegate that vets newcomers, what happens to events
// and on each tick. It knows nothing of Raft, the catalog or RPC: it must
// import no Meridian package but internal/logging.
package serfpool

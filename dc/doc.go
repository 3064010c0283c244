// Package dc is one datacenter's server: Raft set up on raft-boltdb (or in
// memory for dev agents), bootstrap once bootstrap-expect servers are seen,
// the leader's duties (adding and removing Raft voters as servers join and
// leave, tombstone reaping, writing the agents' network coordinates in
// batches), the RPC endpoints of the state store, user events fired from
// other datacenters, prepared queries (templates rendered per name, and
// failover: a query with no healthy local instance runs in the nearest
// datacenters of its policy through PreparedQuery.ExecuteRemote), the
// forwarding of writes and consistent reads to the leader and of requests
// naming another datacenter to its servers (forwardDC), relayed through a
// third datacenter when none of them answers this server directly
// (relayDC, at most MaxRelayHops), built-in KV replication (the leader
// follows another datacenter's prefixes through KV.Changes and applies
// them with its progress in one log entry; local writes under them are
// refused), and snapshot archives: SaveSnapshot
// (any server, linearized unless stale) and RestoreSnapshot (the leader,
// through Raft's Restore; followers install the result as a Raft
// snapshot).
//
// ACLs: the /v1/acl endpoints (bootstrap once, tokens, policies, roles),
// token resolution cached until an ACL table changes (ResolveToken, no
// Raft round trip per request), the checks of the methods the answering
// server enforces (KV, Txn, ACL; rpcMethodAuth classifies every method),
// and, outside the primary datacenter, the leader's copy of the
// primary's ACL state (acl_replicate.go).
//
// dc is the only package that holds a *raft.Raft or imports Raft. New takes
// every dependency (Deps): the LAN pool through the small Membership
// interface, other servers through a Caller (*rpc.Pool), Raft's traffic
// through a StreamLayer (*rpc.RaftLayer) or a ready raft.Transport, its
// stores when the caller opens them, and a clock.Clock; what it builds
// itself from Config (transport, stores under DataDir) is built in one
// place, openRaftDeps. Its tests run clusters of servers over
// raft.NewInmemTransport and internal/memnet inside testing/synctest
// bubbles. It imports store, rpc, pb, acl, snapshot, internal/clock and
// internal/logging below it; never agent or cmd.
package dc

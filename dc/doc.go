// Package dc is one datacenter's server: Raft set up on raft-boltdb (or in
// memory for dev agents), bootstrap once bootstrap-expect servers are seen,
// the leader's duties (adding and removing Raft voters as servers join and
// leave, tombstone reaping), the RPC endpoints of the state store, and the
// forwarding of writes and consistent reads to the leader.
//
// dc is the only package that holds a *raft.Raft. It imports store, rpc and
// pb below it; never agent or cmd. Membership arrives through the small
// Membership interface so tests can hand a fake.
package dc

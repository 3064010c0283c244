// Package store is Meridian's replicated state: a go-memdb database of every
// table (KV entries, KV tombstones, table indexes, catalog, sessions,
// coordinates, prepared queries, ACL tokens, policies, roles and the
// bootstrap state), the FSM logic that applies one pb.Command per Raft log entry,
// and snapshot and restore of every table.
//
// The store is pure and deterministic: no clocks (a command carries the
// leader's time when it needs one), no goroutines, no network. Reads take a
// memdb.WatchSet so callers can block until the data they read changes.
// Rows are immutable once inserted: reads hand out shared read-only values,
// writes insert fresh ones.
//
// store imports only pb and go-memdb; never raft, net, rpc, dc or agent.
package store

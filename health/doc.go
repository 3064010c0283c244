// Package health is the agent's side of service health: it keeps the
// services and checks registered on the agent's own host (State), runs their
// health checks — HTTP, TCP, UDP, TTL, gRPC (grpc.health.v1) and, only when
// enabled, scripts — with Consul's thresholds, timeouts and output limits
// (CheckManager), and keeps the catalog's view of this node equal to the
// local one (Syncer: a partial sync after every local change, a full
// compare-and-repair periodically, scaled by cluster size). Local bundles
// the three with the deregister-critical-service reaper and is what the
// agent's HTTP API calls. Every timer goes through an internal/clock Clock
// so tests drive time with its Fake. The catalog is reached only through the small Catalog
// interface, so health must not import dc, agent, store, raft, rpc or lan.
package health

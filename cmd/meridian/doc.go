// Command meridian is the single Meridian binary: `meridian agent` runs an
// agent (see agent.go), and every other subcommand (members, join, leave,
// force-leave, info, reload, kv, catalog, services, lock, watch, event,
// operator, snapshot, version) is a thin client
// of the local agent's Consul-compatible HTTP API, so the CLI habits of Consul
// users carry over unchanged. The client commands use the official client,
// github.com/hashicorp/consul/api (api.Lock and api.Semaphore for lock, its
// api/watch plans for watch), so every run of the CLI is also a check that
// the agent stays compatible with it; they must not reach into the agent's
// internals (store, rpc, dc): everything they know comes over HTTP (snapshot
// reads the archive format of package snapshot to verify and inspect what it
// saves). validate (alias configtest) checks config files locally, with
// agent/config, and starts nothing.
// Every command is reachable through run, which takes its I/O and environment
// as arguments so tests can drive it against an httptest fake of the agent.
package main

// Command meridian is the single Meridian binary: `meridian agent` runs an
// agent (see agent.go), and every other subcommand (members, join, leave,
// force-leave, info, reload, kv, catalog, services, lock, watch, event,
// operator, version) is a thin client
// of the local agent's Consul-compatible HTTP API, so the CLI habits of Consul
// users carry over unchanged. The client commands speak HTTP with the standard
// library only (net/http, encoding/json) through httpclient.go; they must not
// import github.com/hashicorp/consul/api, and they must not reach into the
// agent's internals (store, rpc, dc): everything they know comes over HTTP.
// Every command is reachable through run, which takes its I/O and environment
// as arguments so tests can drive it against an httptest fake of the agent.
package main

// Package watch runs Consul-style watches with the official client's watch
// plans (github.com/hashicorp/consul/api/watch): Parse reads one entry of
// the agent's `watches` configuration (or the flags of `meridian watch`)
// into a plan and its handler, a Runner owns the watches of an agent, and
// the script and HTTP handlers that receive each new result as JSON live
// here. The blocking queries, their indexes and back-off are the official
// client's; this package adds only what the agent runs on a change. It is
// a client of the HTTP API and nothing else: it must not import the
// agent's internals (agent, dc, store, rpc, lan, wan, health).
package watch

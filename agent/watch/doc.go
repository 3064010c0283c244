// Package watch runs Consul-style watches: a Plan, parsed from one entry of
// the agent's `watches` configuration (or built by `meridian watch`), loops
// blocking queries against an agent's HTTP API (key, keyprefix, services,
// nodes, service, checks, event) and hands every new result to a handler,
// one call at a time and in order, coalescing changes that arrive while the
// handler is busy. Script and HTTP handlers, and a Runner that owns the
// watches of an agent, live here too. The package is a client of the HTTP
// API and nothing else: it must not import the agent's internals (agent,
// dc, store, rpc, lan, wan, health) nor github.com/hashicorp/consul/api.
package watch

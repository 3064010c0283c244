// Package agent is one Meridian process: it turns a config.Config into a
// running agent (LAN gossip, the server's RPC port, Raft and the datacenter
// server on server agents, the HTTP API and DNS on every agent) and stops
// it cleanly.
//
// DNS is agent/dns, which reads the catalog through the same backend as
// the HTTP API (dns.go adapts it).
//
// The HTTP handlers are thin: decode the Consul-compatible request into a
// pb request, call the backend (the local dc.Server in-process on a server
// agent, a LAN server over RPC on a client agent), encode the answer.
//
// The catalog and health list reads also take ?dc=*: the agent fans the
// read out to every datacenter and merges the answers (http_alldc.go).
//
// ACLs: every HTTP route is classified in one table (http_routes.go) the
// router is built from: public, checked on a name from the path, checked
// by the handler on names from the body, a list filtered by read access,
// or checked by the server. Tokens come from ?token=, X-Consul-Token or
// "Authorization: Bearer" (else acl.tokens.default) and are resolved by
// the local server, or on client agents through ACL.Resolve and cached
// for acl.token_ttl.
//
// agent sits at the top: it may import dc, lan, rpc, store, pb, acl,
// agent/config and agent/dns; nothing below imports it.
package agent

// Package dns answers DNS for the registry's domain ("consul." by default,
// and an alternative domain) in Consul's conventions: service lookups
// (<tag>.<service>.service[.<dc>].<domain> and the RFC 2782 form), node
// lookups, <hex>.addr names, prepared-query names, SOA and NS for the
// domain, and PTR for reverse lookups of known addresses; every other name
// goes to the configured recursors.
//
// A query runs through a chain of small steps, each tested on its own:
// parse (name.go) → route by name kind (chain.go) → look up through the
// Backend (lookup.go) → build the answer records (records.go) → fit the
// message to its transport (fit.go); the recursor (recursor.go) is the
// last link for names outside the domain.
//
// The package reads the catalog only through its Backend interface, which
// the agent implements; it imports no Meridian package, so it knows nothing
// of RPC, Raft or the store.
package dns

// Package ui holds the web console and serves it: plain HTML, CSS and ES
// modules embedded in the binary (assets/), organised by view, with no
// build step and no request to any host but the agent that served them.
// The pages read the agent's HTTP API (catalog, health, KV, the
// /v1/internal/ui/ summaries) with blocking queries, one per view.
//
// The package imports nothing of Meridian: the agent mounts Handler under
// /ui/.
package ui

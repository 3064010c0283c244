// Package e2e holds the end-to-end tests of the meridian binary: they build
// ./cmd/meridian once, run real agent processes on 127.0.0.1 (each with its
// own free ports, data directory and log file), crash, stop, pause and
// restart them with signals, and talk to them only as users do, through the
// Consul-compatible HTTP API (github.com/hashicorp/consul/api) and the CLI.
//
// The package has no non-test code besides this file. It must not import
// the product packages (agent, dc, lan, rpc, store, pb): everything it knows
// about the cluster comes over HTTP or from the CLI's output. -short skips it.
// Set MERIDIAN_E2E_RACE=1 to build the binary with the race detector.
package e2e

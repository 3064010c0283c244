// Package testcluster starts real Meridian agents in-process for tests:
// servers with Raft on disk in temporary directories, real LAN gossip and
// RPC on 127.0.0.1 with free ports, the HTTP API, and client agents. Tests
// of every package use it to get a datacenter to talk to.
//
// It is a test helper: only _test.go files import it.
package testcluster

// Package kvbench holds the KV benchmarks of a real three-server
// datacenter on this machine (go test -bench . ./internal/kvbench): puts
// with 1 and 64 clients, reads in each consistency mode, and the disk's
// fsync latency measured in the same run, so the benefit of Raft batching
// can be read against the serial, fsync-bound rate. See README for numbers.
package kvbench

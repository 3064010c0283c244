// Package kvbench holds the benchmarks of a real three-server datacenter
// on this machine (go test -bench . ./internal/kvbench): KV puts with 1 and
// 64 clients and reads in each consistency mode, with the disk's fsync
// latency measured in the same run so the benefit of Raft batching can be
// read against the serial, fsync-bound rate; the catalog with 10,000
// instances; lock hand-off and session renewal; two federated datacenters
// (a read through dc1's client agent, local and with ?dc=dc2, and how fast
// dc1 stops and resumes routing to dc2 when dc2's servers crash and come
// back); prepared queries executed locally and after a failover to dc2;
// ?dc=* reads over three datacenters against a single-datacenter read;
// and, with meridian as separate processes (proc_bench_test.go), watch
// fan-out, 10,000 idle blocking queries (the agent's RSS and CPU) and the
// catalog (registrations, health reads, the drop of a failing instance
// from a blocking ?passing query, the leader's RSS).
// See README for numbers.
package kvbench

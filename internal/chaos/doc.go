// Package chaos checks that a Meridian datacenter keeps its promises under
// faults, the way etcd's robustness suite and Jepsen check theirs:
// concurrent clients record every operation (invocation, response, or an
// indeterminate outcome), a seeded random schedule injects faults (network
// partitions through internal/faultnet, crashes and restarts, slow disks),
// and afterwards the history is checked for linearizability with porcupine
// and every acknowledged write is looked for on every server.
//
// A two-DC mode federates two datacenters over one WAN pool: each runs
// its own clients, clients of each call the other with ?dc=, and the
// schedule adds WAN partitions (every link between the two server sets
// cut). Each datacenter's history, cross-DC operations included, is
// checked on its own; cross-DC calls must fail fast during a cut and work
// again after the heal, while both datacenters keep serving their own.
//
// The short runs are part of the normal test suite; a soak run takes a
// duration flag, and -chaos.dcs 2 for the two-DC mode (see README's
// reliability section).
package chaos

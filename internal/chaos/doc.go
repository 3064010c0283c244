// Package chaos checks that a Meridian datacenter keeps its promises under
// faults, the way etcd's robustness suite and Jepsen check theirs:
// concurrent clients record every operation (invocation, response, or an
// indeterminate outcome), a seeded random schedule injects faults (network
// partitions through internal/faultnet, crashes and restarts, slow disks),
// and afterwards the history is checked for linearizability with porcupine
// and every acknowledged write is looked for on every server.
//
// The short run is part of the normal test suite; a soak run takes a
// duration flag (see README's reliability section).
package chaos

// Package snapshot reads and writes the snapshot archive that
// `/v1/snapshot` and `meridian snapshot save|restore|inspect` exchange.
//
// The format follows Consul's: a gzip-compressed tar holding meta.json
// (the Raft snapshot's metadata), state.bin (the state store's snapshot
// stream as the FSM persists it) and SHA256SUMS (a sha256sum-style line
// for each of the two). Read verifies the sums and the metadata before it
// returns, so a corrupted or truncated archive is refused before anything
// is applied. The package knows nothing of Raft or the store; it imports
// no other Meridian package.
package snapshot

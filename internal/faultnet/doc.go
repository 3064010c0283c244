// Package faultnet is the test-controlled network layer for fault-injection
// tests and soak runs of in-process Meridian clusters, where several agents
// share 127.0.0.1 and differ only by port. A Network knows which node owns
// which address and which directed links are cut or slowed; each Node dials
// TCP through Node.Dial (the rpc pool's and Raft's dial seam) and gossips
// through a wrapped memberlist transport (Node.Transport, Node.NetTransport).
// A cut link loses UDP packets and stalls TCP streams without corrupting
// them, so protocols resume after Heal unless their own timeouts gave up,
// and a cut applies at once, also to connections already open.
// SlowLogStore slows a Raft log store to model a slow disk.
//
// It is a test helper that also serves a soak command: it must not import
// testing, nor any Meridian package (only the standard library, memberlist
// and raft).
package faultnet

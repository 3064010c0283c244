// Package rpc is Meridian's wire protocol between agents and servers. One TCP
// listener per server is demultiplexed by the first byte of each connection
// (Mux): ProtoRaft connections go to the RaftLayer, the stream layer dc
// builds Raft's network transport on, and ProtoRPC connections carry a yamux
// session whose streams are calls, each one length-prefixed pb.RPCRequest
// answered by one length-prefixed pb.RPCResponse (Server); a stream method
// (RegisterStream, Pool.OpenStream) goes on past its request with an
// upload and, after its response, bytes of any length (snapshots). Callers reach
// servers through a Pool that keeps one yamux session per address. A
// ProtoTLS first byte wraps either protocol in TLS (tls.go): the Mux
// refuses plaintext when its TLS policy requires TLS and hands a Raft
// connection on only from a peer the policy authorizes as a server; the
// Pool and the RaftLayer dial with the configuration their OutgoingTLS
// gives; handlers see the caller's TLS state (PeerTLS). Errors
// keep their identity across the wire (ErrorToWire, ErrorFromWire), and
// transport failures are told apart from remote answers with ErrTransport.
// The envelopes also carry a call's relay hop count (WithRelayHops, read by
// the handler with RelayHops) and, back, the datacenter it was relayed
// through (NoteRelay, read by the caller from its WithRelayNote).
//
// rpc knows nothing of the catalog, the KV store or Raft: it does not import
// github.com/hashicorp/raft (only dc does), and must not import store, dc,
// agent or any other Meridian package but pb.
package rpc

package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// ProtoTLS says TLS follows: after the handshake, the first byte inside
// the TLS stream is ProtoRaft or ProtoRPC (Consul's RPCTLS).
const ProtoTLS byte = 0x03

// IncomingTLS is the TLS policy of a server's port, read at each new
// connection so a reload takes effect at once. *tlsconf.Configurator
// implements it.
type IncomingTLS interface {
	// RPCEnabled reports whether the port can accept TLS (a certificate
	// is configured); without it ProtoTLS connections are refused.
	RPCEnabled() bool
	// IncomingRPCConfig is the server side configuration of the handshake.
	IncomingRPCConfig() *tls.Config
	// RequireTLSRPC reports whether plaintext connections are refused.
	RequireTLSRPC() bool
	// AuthorizeServer checks that the peer of a connection (cs nil when
	// plaintext) may act as a server of this datacenter, or with
	// anyDatacenter of any: Raft connections need this one's, server-only
	// RPCs (which come from other datacenters too) any.
	AuthorizeServer(cs *tls.ConnectionState, anyDatacenter bool) error
}

// OutgoingTLS returns the client configuration to dial a server of
// datacenter dc ("" for the local one) with, or nil to dial in plaintext.
type OutgoingTLS func(dc string) *tls.Config

// WithTLS gives the Mux its TLS policy, and the RaftLayer the outgoing
// configuration of its dials (either may be nil).
func WithTLS(in IncomingTLS, out OutgoingTLS) MuxOption {
	return func(o *muxOptions) { o.tlsIn, o.tlsOut = in, out }
}

type datacenterKey struct{}

// WithDatacenter tells a Pool which datacenter the server called belongs
// to, so a TLS dial checks for that datacenter's server name. Without it
// the local datacenter is assumed.
func WithDatacenter(ctx context.Context, dc string) context.Context {
	return context.WithValue(ctx, datacenterKey{}, dc)
}

func datacenterOf(ctx context.Context) string {
	dc, _ := ctx.Value(datacenterKey{}).(string)
	return dc
}

type peerTLSKey struct{}

// PeerTLS returns the TLS state of the connection a call arrived on, nil
// for a plaintext connection (or outside a handler).
func PeerTLS(ctx context.Context) *tls.ConnectionState {
	cs, _ := ctx.Value(peerTLSKey{}).(*tls.ConnectionState)
	return cs
}

func withPeerTLS(ctx context.Context, cs *tls.ConnectionState) context.Context {
	if cs == nil {
		return ctx
	}
	return context.WithValue(ctx, peerTLSKey{}, cs)
}

// connTLSState is conn's TLS state, nil for a plaintext connection.
func connTLSState(conn net.Conn) *tls.ConnectionState {
	if tc, ok := conn.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

// clientHandshake writes ProtoTLS on conn, runs the TLS handshake with cfg
// and writes proto inside it, all bounded by ctx.
func clientHandshake(ctx context.Context, conn net.Conn, cfg *tls.Config, proto byte) (net.Conn, error) {
	if err := writeProtoByte(ctx, conn, ProtoTLS); err != nil {
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if err := writeProtoByte(ctx, tc, proto); err != nil {
		return nil, err
	}
	return tc, nil
}

// dialProto selects proto on a freshly dialed conn: in plaintext, or
// inside TLS when cfg is not nil.
func dialProto(ctx context.Context, conn net.Conn, cfg *tls.Config, proto byte) (net.Conn, error) {
	if cfg == nil {
		return conn, writeProtoByte(ctx, conn, proto)
	}
	return clientHandshake(ctx, conn, cfg, proto)
}

// serverHandshake runs the server side of a ProtoTLS connection and reads
// the inner protocol byte, within deadline.
func serverHandshake(conn net.Conn, cfg *tls.Config, deadline time.Time) (*tls.Conn, byte, error) {
	tc := tls.Server(conn, cfg)
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	if err := tc.Handshake(); err != nil {
		return nil, 0, fmt.Errorf("tls handshake: %w", err)
	}
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil {
		return nil, 0, err
	}
	return tc, b[0], nil
}

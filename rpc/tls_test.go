package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/internal/tlsconf"
)

// testPKI is a CA of dc1 and certificates of it, on disk.
type testPKI struct {
	dir string
	ca  *tlsconf.CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := tlsconf.CreateCA(tlsconf.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca}
	p.write(t, "ca.pem", ca.CertPEM)
	return p
}

func (p *testPKI) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// protocol is internal RPC settings with a certificate of the role, with
// verify_incoming, verify_outgoing and verify_server_hostname on.
func (p *testPKI) protocol(t *testing.T, name string, o tlsconf.CertOptions) tlsconf.Protocol {
	t.Helper()
	c, k, err := p.ca.Sign(o)
	if err != nil {
		t.Fatal(err)
	}
	return tlsconf.Protocol{
		CAFile: filepath.Join(p.dir, "ca.pem"), CertFile: p.write(t, name+".pem", c), KeyFile: p.write(t, name+"-key.pem", k),
		VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true,
	}
}

func (p *testPKI) configurator(t *testing.T, name string, o tlsconf.CertOptions) *tlsconf.Configurator {
	t.Helper()
	c, err := tlsconf.New(tlsconf.Config{InternalRPC: p.protocol(t, name, o), Datacenter: "dc1", Domain: "consul."})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	serverDC1 = tlsconf.CertOptions{Server: true, Datacenter: "dc1"}
	serverDC2 = tlsconf.CertOptions{Server: true, Datacenter: "dc2"}
	clientDC1 = tlsconf.CertOptions{Datacenter: "dc1"}
)

func appendOne(from, to *raftNode) error {
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("x"), Addr: []byte(from.trans.LocalAddr())},
		Term:      3,
		Entries:   []*raft.Log{{Index: 1, Term: 3, Type: raft.LogCommand, Data: []byte("x")}},
	}
	var resp raft.AppendEntriesResponse
	if err := from.trans.AppendEntries("to", to.trans.LocalAddr(), req, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return errors.New("append refused by the follower")
	}
	return nil
}

// TestRaftNeedsAServerCertificate: with verify_server_hostname, Raft
// entries reach a server only from a peer whose certificate names
// server.dc1.consul; a client-role certificate of the same CA, a server
// of another datacenter and a plaintext peer are all refused.
func TestRaftNeedsAServerCertificate(t *testing.T) {
	pki := newTestPKI(t)
	srv := pki.configurator(t, "server", serverDC1)
	target := startRaftNode(t, WithTLS(srv, srv.OutgoingRPCConfig))
	serveRaft(t, target, 3)

	peer := startRaftNode(t, WithTLS(srv, srv.OutgoingRPCConfig))
	if err := appendOne(peer, target); err != nil {
		t.Fatalf("a server of dc1 could not append: %v", err)
	}
	cli := pki.configurator(t, "client", clientDC1)
	dc2 := pki.configurator(t, "server2", serverDC2)
	for _, tc := range []struct {
		name string
		out  OutgoingTLS
	}{
		{"client certificate", cli.OutgoingRPCConfig},
		// The peer checks the target's name too, so skip that check here:
		// it is the target that must refuse.
		{"server of dc2", func(string) *tls.Config {
			cfg := dc2.OutgoingRPCConfig("dc2")
			cfg.ServerName = "server.dc1.consul"
			return cfg
		}},
		{"plaintext", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startRaftNode(t, WithTLS(nil, tc.out))
			if err := appendOne(n, target); err == nil {
				t.Fatal("the append succeeded")
			}
		})
	}
}

// TestPlaintextRefusedWithVerifyIncoming: with verify_incoming, an RPC
// client without TLS gets no session, and one with a certificate does.
func TestPlaintextRefusedWithVerifyIncoming(t *testing.T) {
	pki := newTestPKI(t)
	srv := pki.configurator(t, "server", serverDC1)
	n := startTLSNode(t, srv, ServerConfig{})

	plain, _ := newTestPool(t, PoolConfig{})
	if _, err := callEcho(testCtx(t), plain, n.addr, "x"); !isTransport(err) {
		t.Fatalf("plaintext call: %v, want a transport error", err)
	}
	raw := dialAndWrite(t, n.addr, []byte{ProtoRaft})
	defer raw.Close()
	expectClosedByServer(t, raw)

	// TLS without a client certificate fails the handshake.
	noCert := srv.OutgoingRPCConfig("")
	noCert.GetClientCertificate = nil
	bare, _ := newTestPool(t, PoolConfig{TLS: func(string) *tls.Config { return noCert }})
	if _, err := callEcho(testCtx(t), bare, n.addr, "x"); !isTransport(err) {
		t.Fatalf("call without a client certificate: %v, want a transport error", err)
	}

	cli := pki.configurator(t, "client", clientDC1)
	ok, _ := newTestPool(t, PoolConfig{TLS: cli.OutgoingRPCConfig})
	if got, err := callEcho(testCtx(t), ok, n.addr, "x"); err != nil || got != "x" {
		t.Fatalf("call with a client certificate: %q, %v", got, err)
	}
}

// TestServerOnlyCallNeedsServerCertificate: the Authorize hook sees the
// caller's verified certificate, so a client-role certificate is refused
// a method the hook keeps for servers.
func TestServerOnlyCallNeedsServerCertificate(t *testing.T) {
	pki := newTestPKI(t)
	srv := pki.configurator(t, "server", serverDC1)
	n := startTLSNode(t, srv, ServerConfig{Authorize: func(ctx context.Context, method string) error {
		if err := srv.AuthorizeServer(PeerTLS(ctx), true); err != nil {
			return errors.Join(ErrPermissionDenied, err)
		}
		return nil
	}})
	cli := pki.configurator(t, "client", clientDC1)
	clientPool, _ := newTestPool(t, PoolConfig{TLS: cli.OutgoingRPCConfig})
	if _, err := callEcho(testCtx(t), clientPool, n.addr, "x"); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("client certificate: %v, want permission denied", err)
	}
	serverPool, _ := newTestPool(t, PoolConfig{TLS: srv.OutgoingRPCConfig})
	if got, err := callEcho(testCtx(t), serverPool, n.addr, "x"); err != nil || got != "x" {
		t.Fatalf("server certificate: %q, %v", got, err)
	}
}

// TestWrongServerNameRefused: with verify_server_hostname a caller checks
// that the server it reaches names server.<dc>.consul for the datacenter
// it meant.
func TestWrongServerNameRefused(t *testing.T) {
	pki := newTestPKI(t)
	srv := pki.configurator(t, "server", serverDC1)
	n := startTLSNode(t, srv, ServerConfig{})
	other := pki.configurator(t, "server2", serverDC2)
	// A server of dc2 calls what it believes is a server of dc2.
	p, _ := newTestPool(t, PoolConfig{TLS: other.OutgoingRPCConfig})
	_, err := callEcho(WithDatacenter(testCtx(t), "dc2"), p, n.addr, "x")
	if !isTransport(err) {
		t.Fatalf("call to a server of dc1 as dc2: %v, want a transport error", err)
	}
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Fatalf("error %v is not a certificate name mismatch", err)
	}
	if _, err := callEcho(WithDatacenter(testCtx(t), "dc1"), p, n.addr, "y"); err != nil {
		t.Fatalf("call to dc1 as dc1: %v", err)
	}
}

// startTLSNode is startNode with srv's TLS policy on the Mux.
func startTLSNode(t *testing.T, srv *tlsconf.Configurator, cfg ServerConfig) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{
		addr:      ln.Addr().String(),
		mux:       NewMux(ln, nil, WithTLS(srv, srv.OutgoingRPCConfig), WithFirstByteTimeout(2*time.Second)),
		srv:       NewServer(cfg),
		serveDone: make(chan error, 1),
	}
	registerEcho(n.srv)
	n.mux.HandleRPC(n.srv.ServeConn)
	go func() { n.serveDone <- n.mux.Serve() }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

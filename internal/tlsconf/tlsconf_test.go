package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// files writes a CA and certificates of it into a temp dir.
type files struct {
	dir string
	ca  *CA
}

func newFiles(t *testing.T) *files {
	t.Helper()
	ca, err := CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &files{dir: t.TempDir(), ca: ca}
	f.write(t, "ca.pem", ca.CertPEM)
	return f
}

func (f *files) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cert signs a certificate and returns its files.
func (f *files) cert(t *testing.T, name string, o CertOptions) (certFile, keyFile string) {
	t.Helper()
	c, k, err := f.ca.Sign(o)
	if err != nil {
		t.Fatal(err)
	}
	return f.write(t, name+".pem", c), f.write(t, name+"-key.pem", k)
}

func (f *files) caFile() string { return filepath.Join(f.dir, "ca.pem") }

func parseCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignedCertificatesVerify(t *testing.T) {
	f := newFiles(t)
	serverCert, _ := f.cert(t, "server", CertOptions{Server: true, Datacenter: "dc1", DNSNames: []string{"node1"}})
	clientCert, _ := f.cert(t, "client", CertOptions{Datacenter: "dc1"})
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert)
	for _, tc := range []struct {
		file, name string
		usage      x509.ExtKeyUsage
	}{
		{serverCert, "server.dc1.consul", x509.ExtKeyUsageServerAuth},
		{serverCert, "node1", x509.ExtKeyUsageClientAuth},
		{serverCert, "localhost", x509.ExtKeyUsageServerAuth},
		{clientCert, "client.dc1.consul", x509.ExtKeyUsageClientAuth},
	} {
		c := parseCert(t, tc.file)
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.name, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s for %s: %v", filepath.Base(tc.file), tc.name, err)
		}
	}
	if err := parseCert(t, clientCert).VerifyHostname("server.dc1.consul"); err == nil {
		t.Error("a client certificate names server.dc1.consul")
	}
}

func TestCheckRefusesBadSettings(t *testing.T) {
	f := newFiles(t)
	cert, key := f.cert(t, "s", CertOptions{Server: true, Datacenter: "dc1"})
	for _, tc := range []struct {
		p    Protocol
		want string
	}{
		{Protocol{MinVersion: "TLSv1_0"}, "TLS 1.2 is the oldest version allowed"},
		{Protocol{MinVersion: "tls11"}, "TLS 1.2 is the oldest version allowed"},
		{Protocol{MinVersion: "ssl3"}, "not a TLS version"},
		{Protocol{VerifyIncoming: true, CertFile: cert, KeyFile: key}, "verify_incoming needs ca_file"},
		{Protocol{VerifyIncoming: true, CAFile: f.caFile()}, "verify_incoming needs cert_file"},
		{Protocol{VerifyOutgoing: true}, "need ca_file"},
		{Protocol{VerifyServerHostname: true}, "need ca_file"},
		{Protocol{CertFile: cert}, "must be set together"},
		{Protocol{CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}}, "insecure"},
		{Protocol{CipherSuites: []string{"NOPE"}}, "unknown cipher suite"},
	} {
		err := tc.p.Check("tls.x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.p, err, tc.want)
		}
	}
}

func TestNewRefusesBadFiles(t *testing.T) {
	f := newFiles(t)
	cert, key := f.cert(t, "a", CertOptions{Server: true, Datacenter: "dc1"})
	_, otherKey := f.cert(t, "b", CertOptions{Server: true, Datacenter: "dc1"})
	foreign, err := CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fc, fk, _ := foreign.Sign(CertOptions{Server: true, Datacenter: "dc1"})
	foreignCert, foreignKey := f.write(t, "f.pem", fc), f.write(t, "f-key.pem", fk)
	for _, tc := range []struct {
		p    Protocol
		want string
	}{
		{Protocol{CertFile: cert, KeyFile: otherKey}, "does not match"},
		{Protocol{CertFile: filepath.Join(f.dir, "missing.pem"), KeyFile: key}, "no such file"},
		{Protocol{CAFile: filepath.Join(f.dir, "missing.pem")}, "no such file"},
		{Protocol{CAFile: key}, "no PEM certificate"},
		{Protocol{CAFile: f.caFile(), CertFile: foreignCert, KeyFile: foreignKey}, "not signed by the configured CA"},
	} {
		_, err := New(Config{InternalRPC: tc.p, Datacenter: "dc1", Domain: "consul."})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.p, err, tc.want)
		}
	}
}

func TestAuthorizeServer(t *testing.T) {
	f := newFiles(t)
	ca := f.caFile()
	srvCert, srvKey := f.cert(t, "server", CertOptions{Server: true, Datacenter: "dc1"})
	dc2Cert, dc2Key := f.cert(t, "server2", CertOptions{Server: true, Datacenter: "dc2"})
	cliCert, cliKey := f.cert(t, "client", CertOptions{Datacenter: "dc1"})
	c, err := New(Config{
		InternalRPC: Protocol{CAFile: ca, CertFile: srvCert, KeyFile: srvKey, VerifyIncoming: true, VerifyServerHostname: true},
		Datacenter:  "dc1", Domain: "consul.",
	})
	if err != nil {
		t.Fatal(err)
	}
	state := func(certFile, keyFile string) *tls.ConnectionState {
		kp, err := LoadKeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(f.ca.Cert)
		chains, err := kp.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			t.Fatal(err)
		}
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{kp.Leaf}, VerifiedChains: chains}
	}
	for _, tc := range []struct {
		name  string
		cs    *tls.ConnectionState
		anyDC bool
		ok    bool
	}{
		{"server of dc1", state(srvCert, srvKey), false, true},
		{"server of dc2 for raft", state(dc2Cert, dc2Key), false, false},
		{"server of dc2 for a server-only rpc", state(dc2Cert, dc2Key), true, true},
		{"client of dc1", state(cliCert, cliKey), false, false},
		{"client of dc1, any dc", state(cliCert, cliKey), true, false},
		{"plaintext", nil, false, false},
		{"unverified", &tls.ConnectionState{PeerCertificates: state(srvCert, srvKey).PeerCertificates}, false, false},
	} {
		err := c.AuthorizeServer(tc.cs, tc.anyDC)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNotServer)) {
			t.Errorf("%s: AuthorizeServer = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	// Without verify_server_hostname anyone the port accepts is trusted.
	if err := c.Update(Config{InternalRPC: Protocol{CAFile: ca, CertFile: srvCert, KeyFile: srvKey}, Datacenter: "dc1", Domain: "consul"}); err != nil {
		t.Fatal(err)
	}
	if err := c.AuthorizeServer(nil, false); err != nil {
		t.Errorf("without verify_server_hostname: %v", err)
	}
}

func TestUpdateKeepsOldOnError(t *testing.T) {
	f := newFiles(t)
	cert, key := f.cert(t, "s", CertOptions{Server: true, Datacenter: "dc1"})
	cfg := Config{HTTPS: Protocol{CertFile: cert, KeyFile: key}, Datacenter: "dc1", Domain: "consul"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.HTTPS.KeyFile = filepath.Join(f.dir, "missing")
	if err := c.Update(bad); err == nil {
		t.Fatal("Update with a missing key succeeded")
	}
	if !c.HTTPSEnabled() {
		t.Fatal("a failed Update dropped the certificate in use")
	}
}

func TestParseCARefusesMismatch(t *testing.T) {
	a, _ := CreateCA(CAOptions{})
	b, _ := CreateCA(CAOptions{})
	if _, err := ParseCA(a.CertPEM, b.KeyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("ParseCA with another CA's key: %v", err)
	}
	if _, err := ParseCA(a.CertPEM, a.KeyPEM); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSOffersHTTP2: a client offering h2 and http/1.1 gets h2 from
// the HTTPS configuration, over TLS 1.2 and 1.3, unless tls_cipher_suites
// leaves only suites HTTP/2 refuses; the RPC configuration offers no
// application protocol.
func TestHTTPSOffersHTTP2(t *testing.T) {
	f := newFiles(t)
	cert, key := f.cert(t, "s", CertOptions{Server: true, Datacenter: "dc1"})
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert)
	negotiate := func(t *testing.T, srv *tls.Config, maxVersion uint16) string {
		t.Helper()
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(a, srv).Handshake() }()
		cl := tls.Client(b, &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: maxVersion, NextProtos: []string{"h2", "http/1.1"}})
		if err := cl.Handshake(); err != nil {
			t.Fatalf("client handshake: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("server handshake: %v", err)
		}
		return cl.ConnectionState().NegotiatedProtocol
	}
	cases := []struct {
		name    string
		ciphers []string
		max     uint16
		want    string
	}{
		{"defaults, TLS 1.3", nil, tls.VersionTLS13, "h2"},
		{"defaults, TLS 1.2", nil, tls.VersionTLS12, "h2"},
		{"an AEAD suite among CBC ones", []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}, tls.VersionTLS12, "h2"},
		{"CBC suites only", []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"}, tls.VersionTLS12, "http/1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{HTTPS: Protocol{CertFile: cert, KeyFile: key, CipherSuites: tc.ciphers}, Datacenter: "dc1", Domain: "consul"})
			if err != nil {
				t.Fatal(err)
			}
			if got := negotiate(t, c.IncomingHTTPSConfig(), tc.max); got != tc.want {
				t.Fatalf("HTTPS negotiated %q, want %q", got, tc.want)
			}
		})
	}
	c, err := New(Config{InternalRPC: Protocol{CertFile: cert, KeyFile: key}, Datacenter: "dc1", Domain: "consul"})
	if err != nil {
		t.Fatal(err)
	}
	if got := negotiate(t, c.IncomingRPCConfig(), tls.VersionTLS13); got != "" {
		t.Fatalf("RPC negotiated %q, want none", got)
	}
}

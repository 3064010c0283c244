package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// loaded is one protocol's settings with its files read.
type loaded struct {
	p          Protocol
	cert       *tls.Certificate // nil without cert_file
	pool       *x509.CertPool   // nil without a CA
	minVersion uint16
	ciphers    []uint16
}

// state is everything a Configurator serves at one time.
type state struct {
	cfg   Config
	https loaded
	rpc   loaded
}

// Configurator serves the TLS configurations of the agent's listeners and
// dialers from the settings it was last given. Its methods are safe for
// concurrent use; a tls.Config it returns reads the current settings at
// each handshake.
type Configurator struct {
	cur atomic.Pointer[state]
}

// New loads cfg's certificates and CAs.
func New(cfg Config) (*Configurator, error) {
	c := &Configurator{}
	if err := c.Update(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// Update loads cfg's files and, if they are all valid, makes them the ones
// new connections use; on error nothing changes.
func (c *Configurator) Update(cfg Config) error {
	https, err := load(cfg.HTTPS, "tls.https")
	if err != nil {
		return err
	}
	rpc, err := load(cfg.InternalRPC, "tls.internal_rpc")
	if err != nil {
		return err
	}
	c.cur.Store(&state{cfg: cfg, https: https, rpc: rpc})
	return nil
}

func load(p Protocol, name string) (loaded, error) {
	if err := p.Check(name); err != nil {
		return loaded{}, err
	}
	l := loaded{p: p}
	l.minVersion, _ = ParseMinVersion(p.MinVersion)
	l.ciphers, _ = ParseCipherSuites(p.CipherSuites)
	if p.CertFile != "" {
		cert, err := LoadKeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			return loaded{}, fmt.Errorf("%s: %w", name, err)
		}
		l.cert = cert
	}
	if p.CAFile != "" || p.CAPath != "" {
		pool, err := LoadCAs(p.CAFile, p.CAPath)
		if err != nil {
			return loaded{}, fmt.Errorf("%s: %w", name, err)
		}
		l.pool = pool
	}
	if l.cert != nil && l.pool != nil {
		// A certificate its own CA does not vouch for would be refused by
		// every peer: say so at start, not at the first connection.
		inter := x509.NewCertPool()
		for _, der := range l.cert.Certificate[1:] {
			if ic, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(ic)
			}
		}
		if _, err := l.cert.Leaf.Verify(x509.VerifyOptions{Roots: l.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return loaded{}, fmt.Errorf("%s: cert_file %s is not signed by the configured CA: %v", name, p.CertFile, err)
		}
	}
	return l, nil
}

// LoadKeyPair reads a PEM certificate (chain) and its key, with errors
// that name the file at fault.
func LoadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("key_file %s does not match cert_file %s", keyFile, certFile)
		}
		return nil, fmt.Errorf("cert_file %s / key_file %s: %v", certFile, keyFile, err)
	}
	return &cert, nil
}

// LoadCAs reads the CA certificates of caFile and of every .pem and .crt
// file of caPath.
func LoadCAs(caFile, caPath string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	files := []string{}
	if caFile != "" {
		files = append(files, caFile)
	}
	if caPath != "" {
		entries, err := os.ReadDir(caPath)
		if err != nil {
			return nil, fmt.Errorf("ca_path: %w", err)
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".pem" || ext == ".crt") {
				files = append(files, filepath.Join(caPath, e.Name()))
			}
		}
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", f)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("ca_path %s holds no .pem or .crt file", caPath)
	}
	return pool, nil
}

func (c *Configurator) state() *state { return c.cur.Load() }

// HTTPSEnabled reports whether an HTTPS listener can be served (a
// certificate is configured for it).
func (c *Configurator) HTTPSEnabled() bool { return c.state().https.cert != nil }

// RPCEnabled reports whether the RPC port can accept TLS (a certificate is
// configured for internal RPC).
func (c *Configurator) RPCEnabled() bool { return c.state().rpc.cert != nil }

// IncomingHTTPSConfig is the HTTPS listener's configuration: this agent's
// certificate, and with verify_incoming a client certificate of the CA
// required.
//
// It offers HTTP/2 (ALPN "h2") before HTTP/1.1, as Consul's HTTPS does,
// so a client's blocking queries share one connection, unless
// tls_cipher_suites leaves no suite HTTP/2 accepts (see h2Suites).
func (c *Configurator) IncomingHTTPSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l := c.state().https
			cfg, err := serverConfig(l)
			if err != nil {
				return nil, err
			}
			cfg.NextProtos = httpsProtocols(l)
			return cfg, nil
		},
	}
}

// httpsProtocols are the application protocols HTTPS offers, preferred
// first.
func httpsProtocols(l loaded) []string {
	if l.minVersion >= tls.VersionTLS13 || h2Suites(l.ciphers) {
		return []string{"h2", "http/1.1"}
	}
	return []string{"http/1.1"}
}

// h2Suites reports whether a TLS 1.2 connection restricted to ids (nil:
// Go's defaults) can carry HTTP/2, which refuses all but ephemeral key
// exchange with an AEAD cipher (RFC 9113, section 9.2.2). crypto/tls picks
// AEAD suites first, so one in the list is enough for the clients that
// offer it. TLS 1.3 suites are all acceptable, and are not configurable.
func h2Suites(ids []uint16) bool {
	if len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		name := tls.CipherSuiteName(id)
		if strings.HasPrefix(name, "TLS_ECDHE_") && (strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
			return true
		}
	}
	return false
}

// IncomingRPCConfig is the configuration of TLS connections to the RPC
// port. A peer's certificate is verified whenever it presents one, and
// required with verify_incoming.
func (c *Configurator) IncomingRPCConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return serverConfig(c.state().rpc)
		},
	}
}

func serverConfig(l loaded) (*tls.Config, error) {
	if l.cert == nil {
		return nil, errNoCert
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{*l.cert},
		MinVersion:   l.minVersion,
		CipherSuites: l.ciphers,
		ClientCAs:    l.pool,
		ClientAuth:   tls.NoClientCert,
	}
	switch {
	case l.p.VerifyIncoming:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case l.pool != nil:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// RequireTLSRPC reports whether the RPC port refuses plaintext
// connections (internal_rpc verify_incoming).
func (c *Configurator) RequireTLSRPC() bool { return c.state().rpc.p.VerifyIncoming }

// ServerIdentityRequired reports whether Raft and server-only RPCs need a
// peer certificate naming server.<dc>.<domain> (verify_server_hostname).
func (c *Configurator) ServerIdentityRequired() bool {
	return c.state().rpc.p.VerifyServerHostname
}

// ErrNotServer is the error of a peer that is not a server of this
// datacenter where one is required.
var ErrNotServer = errors.New("peer is not a server of this datacenter")

// AuthorizeServer checks that the peer of a connection to the RPC port may
// act as a server of this datacenter (with anyDatacenter, of any
// datacenter): always true without verify_server_hostname; with it, the
// peer must have presented a certificate verified against the CA that
// names server.<dc>.<domain>. cs is nil for a plaintext connection.
func (c *Configurator) AuthorizeServer(cs *tls.ConnectionState, anyDatacenter bool) error {
	st := c.state()
	if !st.rpc.p.VerifyServerHostname {
		return nil
	}
	want := ServerName(st.cfg.Datacenter, st.cfg.Domain)
	if anyDatacenter {
		want = ServerName("<dc>", st.cfg.Domain)
	}
	switch {
	case cs == nil:
		return fmt.Errorf("%w: plaintext connection, want a TLS certificate for %s", ErrNotServer, want)
	case len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0:
		return fmt.Errorf("%w: no verified certificate, want one for %s", ErrNotServer, want)
	}
	leaf := cs.PeerCertificates[0]
	if anyDatacenter {
		if namesAnyServer(leaf, strings.TrimSuffix(st.cfg.Domain, ".")) {
			return nil
		}
	} else if leaf.VerifyHostname(want) == nil {
		return nil
	}
	return fmt.Errorf("%w: certificate %q does not name %s", ErrNotServer, leaf.Subject.CommonName, want)
}

// namesAnyServer reports whether cert names server.<dc>.<domain> for some
// datacenter name dc (one DNS label).
func namesAnyServer(cert *x509.Certificate, domain string) bool {
	for _, n := range cert.DNSNames {
		n = strings.ToLower(n)
		mid, ok := strings.CutPrefix(n, "server.")
		if !ok {
			continue
		}
		dc, ok := strings.CutSuffix(mid, "."+strings.ToLower(domain))
		if ok && dc != "" && !strings.ContainsAny(dc, ".*") {
			return true
		}
	}
	return false
}

// OutgoingRPCConfig is the configuration to dial a server of datacenter dc
// ("" for this one) with, or nil when outgoing RPC is plaintext (neither
// verify_outgoing nor verify_server_hostname). The server's certificate is
// verified against the CA, and with verify_server_hostname must name
// server.<dc>.<domain>; this agent's certificate, if any, is offered.
func (c *Configurator) OutgoingRPCConfig(dc string) *tls.Config {
	st := c.state()
	l := st.rpc
	if !l.p.VerifyOutgoing && !l.p.VerifyServerHostname {
		return nil
	}
	if dc == "" {
		dc = st.cfg.Datacenter
	}
	cfg := &tls.Config{
		RootCAs:      l.pool,
		MinVersion:   l.minVersion,
		CipherSuites: l.ciphers,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert := c.state().rpc.cert; cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	if l.p.VerifyServerHostname {
		cfg.ServerName = ServerName(dc, st.cfg.Domain)
		return cfg
	}
	// verify_outgoing alone checks the chain, not the name (as Consul).
	cfg.InsecureSkipVerify = true
	pool := l.pool
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
	return cfg
}

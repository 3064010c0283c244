package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// Protocol is the TLS settings of one protocol (Consul's tls.https and
// tls.internal_rpc blocks, with tls.defaults applied).
type Protocol struct {
	// CAFile and CAPath name the CA certificates that verify peers: a PEM
	// file, and a directory whose .pem and .crt files are read.
	CAFile, CAPath string
	// CertFile and KeyFile are this agent's certificate and its key (PEM).
	CertFile, KeyFile string
	// VerifyIncoming requires peers that connect to present a certificate
	// signed by the CA; plaintext connections are refused.
	VerifyIncoming bool
	// VerifyOutgoing makes the agent dial with TLS and verify the peer's
	// certificate against the CA (internal RPC only).
	VerifyOutgoing bool
	// VerifyServerHostname requires a server's certificate to name
	// server.<dc>.<domain> (internal RPC only); it implies VerifyOutgoing.
	VerifyServerHostname bool
	// MinVersion is "TLSv1_2" (default) or "TLSv1_3"; Consul's older
	// spellings "tls12" and "tls13" are accepted.
	MinVersion string
	// CipherSuites are Go's (and Consul's) names of the TLS 1.2 suites
	// offered; empty leaves Go's secure defaults.
	CipherSuites []string
}

// Config is what a Configurator is built from.
type Config struct {
	HTTPS       Protocol
	InternalRPC Protocol
	// Datacenter and Domain make the server name servers present:
	// server.<Datacenter>.<Domain> (Domain without its trailing dot).
	Datacenter string
	Domain     string
}

// Enabled reports whether p asks for any TLS at all.
func (p Protocol) Enabled() bool {
	return p.CertFile != "" || p.VerifyIncoming || p.VerifyOutgoing || p.VerifyServerHostname
}

// ServerName is the name a server certificate of dc must carry.
func ServerName(dc, domain string) string {
	return "server." + dc + "." + strings.TrimSuffix(domain, ".")
}

// ParseMinVersion maps a tls_min_version value to crypto/tls's constant;
// versions before 1.2 are refused.
func ParseMinVersion(v string) (uint16, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "tlsv1_2", "tls12":
		return tls.VersionTLS12, nil
	case "tlsv1_3", "tls13":
		return tls.VersionTLS13, nil
	case "tlsv1_0", "tls10", "tlsv1_1", "tls11":
		return 0, fmt.Errorf("tls_min_version %q is refused: TLS 1.2 is the oldest version allowed", v)
	}
	return 0, fmt.Errorf("tls_min_version %q is not a TLS version (want TLSv1_2 or TLSv1_3)", v)
}

// ParseCipherSuites maps suite names to crypto/tls's IDs; insecure suites
// and unknown names are refused.
func ParseCipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	insecure := map[string]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.Name] = true
	}
	var ids []uint16
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		id, ok := byName[n]
		switch {
		case insecure[n]:
			return nil, fmt.Errorf("tls_cipher_suites: %s is insecure and refused", n)
		case !ok:
			return nil, fmt.Errorf("tls_cipher_suites: unknown cipher suite %q", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Check validates p without reading files: what each setting needs.
// name prefixes the messages ("tls.internal_rpc").
func (p Protocol) Check(name string) error {
	if _, err := ParseMinVersion(p.MinVersion); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := ParseCipherSuites(p.CipherSuites); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	hasCA := p.CAFile != "" || p.CAPath != ""
	switch {
	case (p.CertFile == "") != (p.KeyFile == ""):
		return fmt.Errorf("%s: cert_file and key_file must be set together", name)
	case p.VerifyIncoming && !hasCA:
		return fmt.Errorf("%s: verify_incoming needs ca_file or ca_path to verify the peers' certificates", name)
	case p.VerifyIncoming && p.CertFile == "":
		return fmt.Errorf("%s: verify_incoming needs cert_file and key_file (the agent's own certificate)", name)
	case (p.VerifyOutgoing || p.VerifyServerHostname) && !hasCA:
		return fmt.Errorf("%s: verify_outgoing and verify_server_hostname need ca_file or ca_path", name)
	}
	return nil
}

var errNoCert = errors.New("no certificate configured")

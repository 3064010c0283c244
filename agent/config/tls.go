package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/meridian-io/meridian/internal/tlsconf"
)

// TLSConfig is Consul's tls block (1.12+ shape) with tls.defaults applied
// to each protocol, and the older top-level keys folded in.
type TLSConfig struct {
	// HTTPS secures the HTTPS listener (ports.https).
	HTTPS tlsconf.Protocol
	// InternalRPC secures the server port: RPC and Raft, between agents
	// and servers and between servers.
	InternalRPC tlsconf.Protocol
}

func (t TLSConfig) clone() TLSConfig {
	t.HTTPS.CipherSuites = slices.Clone(t.HTTPS.CipherSuites)
	t.InternalRPC.CipherSuites = slices.Clone(t.InternalRPC.CipherSuites)
	return t
}

// partialTLSProtocol is one block of tls (defaults, https, internal_rpc).
type partialTLSProtocol struct {
	CAFile, CAPath, CertFile, KeyFile, MinVersion        *string
	VerifyIncoming, VerifyOutgoing, VerifyServerHostname *bool
	CipherSuites                                         *[]string
}

type partialTLS struct {
	Defaults, HTTPS, InternalRPC partialTLSProtocol
}

// protocol applies p over d (the defaults block).
func (p partialTLSProtocol) protocol(d partialTLSProtocol) tlsconf.Protocol {
	var out tlsconf.Protocol
	for _, src := range []partialTLSProtocol{d, p} {
		set(&out.CAFile, src.CAFile)
		set(&out.CAPath, src.CAPath)
		set(&out.CertFile, src.CertFile)
		set(&out.KeyFile, src.KeyFile)
		set(&out.MinVersion, src.MinVersion)
		set(&out.VerifyIncoming, src.VerifyIncoming)
		set(&out.VerifyOutgoing, src.VerifyOutgoing)
		set(&out.VerifyServerHostname, src.VerifyServerHostname)
		if src.CipherSuites != nil {
			out.CipherSuites = slices.Clone(*src.CipherSuites)
		}
	}
	return out
}

func (p *partialTLS) apply(c *TLSConfig) {
	c.HTTPS = p.HTTPS.protocol(p.Defaults)
	c.HTTPS.VerifyServerHostname = false
	c.InternalRPC = p.InternalRPC.protocol(p.Defaults)
}

func toCipherList(v any) ([]string, error) {
	if s, ok := v.(string); ok { // Consul's comma-separated form
		var out []string
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
		return out, nil
	}
	return toStrings(v)
}

func tlsProtocolKeys(withHostname bool) map[string]keyFunc[partialTLSProtocol] {
	keys := map[string]keyFunc[partialTLSProtocol]{
		"ca_file":           opt(toString, func(p *partialTLSProtocol) **string { return &p.CAFile }),
		"ca_path":           opt(toString, func(p *partialTLSProtocol) **string { return &p.CAPath }),
		"cert_file":         opt(toString, func(p *partialTLSProtocol) **string { return &p.CertFile }),
		"key_file":          opt(toString, func(p *partialTLSProtocol) **string { return &p.KeyFile }),
		"tls_min_version":   opt(toString, func(p *partialTLSProtocol) **string { return &p.MinVersion }),
		"tls_cipher_suites": opt(toCipherList, func(p *partialTLSProtocol) **[]string { return &p.CipherSuites }),
		"verify_incoming":   opt(toBool, func(p *partialTLSProtocol) **bool { return &p.VerifyIncoming }),
		"verify_outgoing":   opt(toBool, func(p *partialTLSProtocol) **bool { return &p.VerifyOutgoing }),
	}
	if withHostname {
		keys["verify_server_hostname"] = opt(toBool, func(p *partialTLSProtocol) **bool { return &p.VerifyServerHostname })
	}
	return keys
}

var (
	tlsDefaultsObject    = object[partialTLSProtocol]{keys: tlsProtocolKeys(false)}
	tlsHTTPSObject       = object[partialTLSProtocol]{keys: tlsProtocolKeys(false)}
	tlsInternalRPCObject = object[partialTLSProtocol]{keys: tlsProtocolKeys(true)}
	tlsObject            = object[partialTLS]{
		unused: keySet("grpc"),
		keys: map[string]keyFunc[partialTLS]{
			"defaults":     nested(tlsDefaultsObject, func(p *partialTLS) *partialTLSProtocol { return &p.Defaults }),
			"https":        nested(tlsHTTPSObject, func(p *partialTLS) *partialTLSProtocol { return &p.HTTPS }),
			"internal_rpc": nested(tlsInternalRPCObject, func(p *partialTLS) *partialTLSProtocol { return &p.InternalRPC }),
		},
	}
)

// legacyTLSKeys are Consul's top-level TLS keys from before the tls block,
// each mapped to the block and key that replaced it.
var legacyTLSKeys = map[string]keyFunc[sourceDraft]{
	"ca_file":                defaultsKey("ca_file"),
	"ca_path":                defaultsKey("ca_path"),
	"cert_file":              defaultsKey("cert_file"),
	"key_file":               defaultsKey("key_file"),
	"tls_min_version":        defaultsKey("tls_min_version"),
	"tls_cipher_suites":      defaultsKey("tls_cipher_suites"),
	"verify_incoming":        defaultsKey("verify_incoming"),
	"verify_outgoing":        defaultsKey("verify_outgoing"),
	"verify_incoming_rpc":    protocolKey(tlsInternalRPCObject, "verify_incoming", func(t *partialTLS) *partialTLSProtocol { return &t.InternalRPC }),
	"verify_incoming_https":  protocolKey(tlsHTTPSObject, "verify_incoming", func(t *partialTLS) *partialTLSProtocol { return &t.HTTPS }),
	"verify_server_hostname": protocolKey(tlsInternalRPCObject, "verify_server_hostname", func(t *partialTLS) *partialTLSProtocol { return &t.InternalRPC }),
}

func defaultsKey(key string) keyFunc[sourceDraft] {
	return protocolKey(tlsDefaultsObject, key, func(t *partialTLS) *partialTLSProtocol { return &t.Defaults })
}

func protocolKey(o object[partialTLSProtocol], key string, block func(*partialTLS) *partialTLSProtocol) keyFunc[sourceDraft] {
	return func(d *decoder, s *sourceDraft, v any, path string) error {
		return o.keys[key](d, block(&s.p.TLS), v, path)
	}
}

// validateTLS checks the tls settings and the files they name: they exist,
// parse, keys match certificates and certificates their CA.
func validateTLS(c *Config) error {
	for _, p := range []struct {
		name string
		p    tlsconf.Protocol
	}{{"tls.https", c.TLS.HTTPS}, {"tls.internal_rpc", c.TLS.InternalRPC}} {
		if err := p.p.Check(p.name); err != nil {
			return err
		}
		for _, f := range []struct{ key, path string }{
			{"ca_file", p.p.CAFile}, {"ca_path", p.p.CAPath}, {"cert_file", p.p.CertFile}, {"key_file", p.p.KeyFile},
		} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				return fmt.Errorf("%s.%s: %v", p.name, f.key, err)
			}
		}
	}
	// Parse what the files hold: a key that does not match its
	// certificate fails `meridian validate` too, not only the agent.
	if _, err := tlsconf.New(tlsconf.Config{HTTPS: c.TLS.HTTPS, InternalRPC: c.TLS.InternalRPC, Datacenter: c.Datacenter, Domain: c.Domain}); err != nil {
		return err
	}
	if c.Ports.HTTPS != PortDisabled && c.TLS.HTTPS.CertFile == "" && !c.Secure {
		return fmt.Errorf("ports.https %d needs a certificate: set tls.https (or tls.defaults) cert_file and key_file", c.Ports.HTTPS)
	}
	if c.Secure && (c.DataDir == "" || c.Dev) {
		return fmt.Errorf("-secure keeps its keys and certificates in the data dir: it needs -data-dir and cannot be combined with -dev")
	}
	return nil
}

func init() {
	for k, fn := range legacyTLSKeys {
		topLevel.keys[k] = fn
	}
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/internal/tlsconf"
)

// writeTestPKI writes dir/ca/ca.pem, and dir/cert.pem and dir/key.pem
// signed by it, for server.dc1.consul.
func writeTestPKI(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	authority, err := tlsconf.CreateCA(tlsconf.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := authority.Sign(tlsconf.CertOptions{Server: true, Datacenter: "dc1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "ca/ca.pem", string(authority.CertPEM)), writeFile(t, dir, "cert.pem", string(c)), writeFile(t, dir, "key.pem", string(k))
}

// TestTLSBlockAndLegacyKeys: the tls block's defaults apply to each
// protocol under its own settings, and Consul's older top-level keys land
// in the same places.
func TestTLSBlockAndLegacyKeys(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestPKI(t, dir)
	block := `tls {
  defaults { ca_file = "` + ca + `" cert_file = "` + cert + `" key_file = "` + key + `" verify_incoming = true verify_outgoing = true tls_min_version = "TLSv1_3" }
  https { verify_incoming = false }
  internal_rpc { verify_server_hostname = true }
}
ports { https = 18501 }`
	legacy := `ca_file = "` + ca + `"
cert_file = "` + cert + `"
key_file = "` + key + `"
verify_incoming_rpc = true
verify_outgoing = true
verify_server_hostname = true
tls_min_version = "tls13"
ports { https = 18501 }`
	wantRPC := tlsconf.Protocol{CAFile: ca, CertFile: cert, KeyFile: key, VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true}
	wantHTTPS := tlsconf.Protocol{CAFile: ca, CertFile: cert, KeyFile: key, VerifyOutgoing: true}
	for name, hcl := range map[string]string{"block": block, "legacy": legacy} {
		c, warnings := mustLoad(t, "-data-dir", dir, "-hcl", hcl)
		if len(warnings) != 0 {
			t.Errorf("%s: warnings %q", name, warnings)
		}
		rpc, https := c.TLS.InternalRPC, c.TLS.HTTPS
		rpc.MinVersion, https.MinVersion = "", ""
		if !equalProtocol(rpc, wantRPC) || !equalProtocol(https, wantHTTPS) {
			t.Errorf("%s: internal_rpc %+v https %+v", name, c.TLS.InternalRPC, c.TLS.HTTPS)
		}
		if c.TLS.InternalRPC.MinVersion == "" || c.Ports.HTTPS != 18501 {
			t.Errorf("%s: min version %q, https port %d", name, c.TLS.InternalRPC.MinVersion, c.Ports.HTTPS)
		}
	}
}

func equalProtocol(a, b tlsconf.Protocol) bool {
	return a.CAFile == b.CAFile && a.CAPath == b.CAPath && a.CertFile == b.CertFile && a.KeyFile == b.KeyFile &&
		a.VerifyIncoming == b.VerifyIncoming && a.VerifyOutgoing == b.VerifyOutgoing &&
		a.VerifyServerHostname == b.VerifyServerHostname && a.MinVersion == b.MinVersion
}

func TestTLSValidationErrors(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestPKI(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	other := t.TempDir()
	otherCA, otherCert, otherKey := writeTestPKI(t, other)
	for _, tc := range []struct{ hcl, want string }{
		{`tls { defaults { tls_min_version = "TLSv1_1" } }`, "TLS 1.2 is the oldest version allowed"},
		{`verify_incoming = true
cert_file = "` + cert + `"
key_file = "` + key + `"`, "verify_incoming needs ca_file or ca_path"},
		{`tls { internal_rpc { verify_outgoing = true } }`, "need ca_file or ca_path"},
		{`tls { defaults { cert_file = "` + cert + `" } }`, "cert_file and key_file must be set together"},
		{`tls { https { ca_file = "` + missing + `" } }`, "tls.https.ca_file"},
		{`tls { defaults { ca_file = "` + ca + `" cert_file = "` + missing + `" key_file = "` + key + `" } }`, "cert_file"},
		{`ports { https = 18501 }`, "ports.https 18501 needs a certificate"},
		{`tls { https { verify_server_hostname = true } }`, "tls.https.verify_server_hostname"},
		{`tls { defaults { cert_file = "` + cert + `" key_file = "` + otherKey + `" } }`, "does not match cert_file"},
		{`tls { defaults { ca_file = "` + otherCA + `" cert_file = "` + cert + `" key_file = "` + key + `" } }`, "not signed by the configured CA"},
		{`tls { defaults { ca_file = "` + key + `" } }`, "holds no PEM certificate"},
		{`tls { defaults { ca_file = "` + ca + `" cert_file = "` + otherCert + `" key_file = "` + key + `" } }`, "does not match"},
		{`tls { internal_rpc { tls_cipher_suites = "TLS_RSA_WITH_RC4_128_SHA" } }`, "insecure"},
	} {
		err := loadErr(t, "-data-dir", dir, "-hcl", tc.hcl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.hcl, err, tc.want)
		}
	}
	if err := loadErr(t, "-secure", "-dev"); err == nil || !strings.Contains(err.Error(), "-secure") {
		t.Errorf("-secure -dev: %v", err)
	}
}

// TestSecureProfile: -secure makes a server with ACLs denying by default,
// HTTPS on 8501 and HTTP off; flags still override it.
func TestSecureProfile(t *testing.T) {
	dir := t.TempDir()
	c, warnings := mustLoad(t, "-secure", "-data-dir", dir)
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	if !c.Secure || !c.Server || !c.Bootstrap || !c.ACL.Enabled || c.ACL.DefaultPolicy != "deny" ||
		c.Ports.HTTPS != 8501 || c.Ports.HTTP != PortDisabled {
		t.Errorf("-secure: %+v", c)
	}
	c, _ = mustLoad(t, "-secure", "-data-dir", dir, "-http-port", "18500", "-bootstrap-expect", "3")
	if c.Ports.HTTP != 18500 || c.Bootstrap || c.BootstrapExpect != 3 {
		t.Errorf("-secure with flags: http %d bootstrap %v expect %d", c.Ports.HTTP, c.Bootstrap, c.BootstrapExpect)
	}
}

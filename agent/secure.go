package agent

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/internal/tlsconf"
)

// Files of -secure, in <data-dir>/secure/.
const (
	secureDir       = "secure"
	secureCAFile    = "meridian-agent-ca.pem"
	secureCAKeyFile = "meridian-agent-ca-key.pem"
	secureTokenFile = "management-token"
	secureGossipKey = "gossip.key"
)

// applySecure completes a -secure configuration: it generates, in
// <data-dir>/secure/, whatever of a CA, a server certificate, a gossip key
// and a management token is absent (reusing what is there), and fills in
// the settings that use them unless the configuration sets its own. It
// returns lines that tell the operator where each is.
func applySecure(cfg *config.Config) ([]string, error) {
	dir := filepath.Join(cfg.DataDir, secureDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: -secure: %w", err)
	}
	domain := strings.TrimSuffix(cfg.Domain, ".")
	caPath, caKeyPath := filepath.Join(dir, secureCAFile), filepath.Join(dir, secureCAKeyFile)
	ca, err := loadOrCreateCA(caPath, caKeyPath, domain)
	if err != nil {
		return nil, fmt.Errorf("agent: -secure: %w", err)
	}
	certPath := filepath.Join(dir, cfg.Datacenter+"-server-"+domain+"-0.pem")
	keyPath := filepath.Join(dir, cfg.Datacenter+"-server-"+domain+"-0-key.pem")
	if !exists(certPath) || !exists(keyPath) {
		opts := tlsconf.CertOptions{Server: true, Datacenter: cfg.Datacenter, Domain: domain, DNSNames: []string{cfg.NodeName}}
		if ip := net.ParseIP(cfg.AdvertiseAddr); ip != nil && !ip.IsLoopback() {
			opts.IPs = append(opts.IPs, ip)
		}
		certPEM, keyPEM, err := ca.Sign(opts)
		if err != nil {
			return nil, fmt.Errorf("agent: -secure: server certificate: %w", err)
		}
		if err := writeSecret(keyPath, keyPEM); err != nil {
			return nil, err
		}
		if err := writeSecret(certPath, certPEM); err != nil {
			return nil, err
		}
	}
	if cfg.TLS.InternalRPC.CertFile == "" {
		cfg.TLS.InternalRPC = tlsconf.Protocol{
			CAFile: caPath, CertFile: certPath, KeyFile: keyPath,
			VerifyIncoming: true, VerifyOutgoing: true, VerifyServerHostname: true,
		}
	}
	if cfg.TLS.HTTPS.CertFile == "" {
		cfg.TLS.HTTPS = tlsconf.Protocol{CAFile: caPath, CertFile: certPath, KeyFile: keyPath}
	}
	if cfg.Encrypt == "" {
		key, err := loadOrCreate(filepath.Join(dir, secureGossipKey), func() (string, error) {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(b), nil
		})
		if err != nil {
			return nil, err
		}
		cfg.Encrypt = key
	}
	tokenPath := filepath.Join(dir, secureTokenFile)
	if cfg.ACL.Tokens.InitialManagement == "" {
		tok, err := loadOrCreate(tokenPath, newUUID)
		if err != nil {
			return nil, err
		}
		cfg.ACL.Tokens.InitialManagement = tok
	}
	notes := []string{
		"secure trial: ACLs on (default deny), TLS on RPC, Raft and HTTPS, gossip encrypted",
		"secure trial: CA certificate " + caPath,
		"secure trial: management token " + tokenPath,
		fmt.Sprintf("secure trial: export CONSUL_HTTP_ADDR=https://127.0.0.1:%d CONSUL_CACERT=%s CONSUL_HTTP_TOKEN=$(cat %s)", cfg.Ports.HTTPS, caPath, tokenPath),
	}
	return notes, nil
}

func loadOrCreateCA(certPath, keyPath, domain string) (*tlsconf.CA, error) {
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	if cerr == nil && kerr == nil {
		return tlsconf.ParseCA(certPEM, keyPEM)
	}
	if !errors.Is(cerr, fs.ErrNotExist) && cerr != nil {
		return nil, cerr
	}
	ca, err := tlsconf.CreateCA(tlsconf.CAOptions{Domain: domain})
	if err != nil {
		return nil, err
	}
	if err := writeSecret(keyPath, ca.KeyPEM); err != nil {
		return nil, err
	}
	if err := writeSecret(certPath, ca.CertPEM); err != nil {
		return nil, err
	}
	return ca, nil
}

// loadOrCreate reads the one-line secret of path, or makes one with gen
// and writes it there.
func loadOrCreate(path string, gen func() (string, error)) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(data)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("agent: -secure: %w", err)
	}
	s, err := gen()
	if err != nil {
		return "", err
	}
	return s, writeSecret(path, []byte(s+"\n"))
}

// writeSecret writes a 0600 file whole: a reader sees it complete or not
// at all.
func writeSecret(path string, data []byte) error {
	if err := writeFileDurable(path, data, 0o600); err != nil {
		return fmt.Errorf("agent: -secure: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func newUUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

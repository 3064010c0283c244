package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/meridian-io/meridian/internal/tlsconf"
)

// The files `meridian tls` writes, in the current directory, under
// Consul's names: the CA as <domain>-agent-ca.pem and
// <domain>-agent-ca-key.pem (consul-agent-ca.pem with the default domain),
// and each certificate as <dc>-<server|client>-<domain>-<n>.pem with its
// -key.pem, n the first unused number. Releases before named the CA meridian-agent-ca*.pem
// whatever the domain: cert create still finds a CA by that name.
func tlsCAFiles(domain string) (cert, key string) {
	d := strings.TrimSuffix(domain, ".")
	return d + "-agent-ca.pem", d + "-agent-ca-key.pem"
}

const (
	legacyCAFile    = "meridian-agent-ca.pem"
	legacyCAKeyFile = "meridian-agent-ca-key.pem"
)

func tlsCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"ca":   {"Helpers for CAs", runTLSCA},
		"cert": {"Helpers for certificates", runTLSCert},
	}
}

func runTLS(e *cmdEnv, args []string) int { return e.dispatch("meridian tls", tlsCommands(), args) }

func runTLSCA(e *cmdEnv, args []string) int {
	return e.dispatch("meridian tls ca", map[string]cliCommand{
		"create": {"Create a new Meridian agent CA", runTLSCACreate},
	}, args)
}

func runTLSCert(e *cmdEnv, args []string) int {
	return e.dispatch("meridian tls cert", map[string]cliCommand{
		"create": {"Create a new certificate signed by the agent CA", runTLSCertCreate},
	}, args)
}

const tlsCACreateHelp = `Usage: meridian tls ca create [options]

  Creates a CA for the agents' TLS (ECDSA P-256): <domain>-agent-ca.pem and
  <domain>-agent-ca-key.pem in the current directory (consul-agent-ca.pem
  and its key with the default -domain). Keep the key safe: it signs the
  certificates 'meridian tls cert create' makes.`

func runTLSCACreate(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("tls ca create")
	days := fs.Int("days", 1825, "Number of `days` the CA is valid for.")
	domain := fs.String("domain", "consul", "The agents' DNS `domain`, as the agents' -domain.")
	constraint := fs.Bool("name-constraint", false, "Limits the CA to sign names under -domain and localhost only.")
	cn := fs.String("common-name", "", "Common `name` of the CA (default \"Meridian Agent CA <serial>\").")
	if code, ok := e.parse(fs, tlsCACreateHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("tls ca create", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	if *days <= 0 {
		return e.usageError("tls ca create", "-days must be > 0, got %d", *days)
	}
	caFile, caKeyFile := tlsCAFiles(*domain)
	for _, f := range []string{caFile, caKeyFile} {
		if _, err := os.Stat(f); err == nil {
			return e.fail(exitError, "==> %s already exists", f)
		}
	}
	ca, err := tlsconf.CreateCA(tlsconf.CAOptions{Days: *days, Domain: *domain, NameConstraint: *constraint, CommonName: *cn})
	if err != nil {
		return e.fail(exitError, "==> CA: %v", err)
	}
	if err := writeNew(caFile, ca.CertPEM, 0o644); err != nil {
		return e.fail(exitError, "==> %v", err)
	}
	fmt.Fprintf(e.stdout, "==> Saved %s\n", caFile)
	if err := writeNew(caKeyFile, ca.KeyPEM, 0o600); err != nil {
		return e.fail(exitError, "==> %v", err)
	}
	fmt.Fprintf(e.stdout, "==> Saved %s\n", caKeyFile)
	return exitOK
}

const tlsCertCreateHelp = `Usage: meridian tls cert create [options]

  Creates a certificate and its key signed by the agent CA of the current
  directory (<domain>-agent-ca.pem, or meridian-agent-ca.pem of earlier
  releases; or -ca and -key): with -server, one naming
  server.<dc>.<domain> (servers need it when verify_server_hostname is on);
  with -client, client.<dc>.<domain>. Both also name localhost and
  127.0.0.1. Files: <dc>-server-<domain>-<n>.pem and
  <dc>-server-<domain>-<n>-key.pem (client likewise), n the first free
  number.`

func runTLSCertCreate(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("tls cert create")
	server := fs.Bool("server", false, "Generate a server certificate.")
	client := fs.Bool("client", false, "Generate a client certificate.")
	dc := fs.String("dc", "dc1", "Datacenter `name` of the agent.")
	domain := fs.String("domain", "consul", "The agents' DNS `domain`.")
	days := fs.Int("days", 365, "Number of `days` the certificate is valid for.")
	caFile := fs.String("ca", "", "The CA certificate `file` (default <domain>-agent-ca.pem).")
	keyFile := fs.String("key", "", "The CA key `file` (default <domain>-agent-ca-key.pem).")
	var dnsNames, ips stringList
	fs.Var(&dnsNames, "additional-dnsname", "Another DNS `name` the certificate is valid for. Can be given several times.")
	fs.Var(&ips, "additional-ipaddress", "Another IP `address` the certificate is valid for. Can be given several times.")
	if code, ok := e.parse(fs, tlsCertCreateHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("tls cert create", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	if *server == *client {
		return e.usageError("tls cert create", "Exactly one of -server and -client is needed")
	}
	if *days <= 0 {
		return e.usageError("tls cert create", "-days must be > 0, got %d", *days)
	}
	opts := tlsconf.CertOptions{Server: *server, Datacenter: *dc, Domain: *domain, Days: *days, DNSNames: dnsNames}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return e.usageError("tls cert create", "-additional-ipaddress %q is not an IP address", s)
		}
		opts.IPs = append(opts.IPs, ip)
	}
	if *caFile == "" && *keyFile == "" {
		*caFile, *keyFile = tlsCAFiles(*domain)
		if !fileExists(*caFile) && fileExists(legacyCAFile) {
			*caFile, *keyFile = legacyCAFile, legacyCAKeyFile
		}
	} else if *caFile == "" || *keyFile == "" {
		return e.usageError("tls cert create", "-ca and -key go together")
	}
	certPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return e.fail(exitError, "==> CA certificate: %v (create one with 'meridian tls ca create')", err)
	}
	caKeyPEM, err := os.ReadFile(*keyFile)
	if err != nil {
		return e.fail(exitError, "==> CA key: %v", err)
	}
	ca, err := tlsconf.ParseCA(certPEM, caKeyPEM)
	if err != nil {
		return e.fail(exitError, "==> %v", err)
	}
	role := "client"
	if *server {
		role = "server"
	}
	prefix := fmt.Sprintf("%s-%s-%s", *dc, role, strings.TrimSuffix(*domain, "."))
	certOut, keyOut, err := freeCertNames(prefix)
	if err != nil {
		return e.fail(exitError, "==> %v", err)
	}
	cert, key, err := ca.Sign(opts)
	if err != nil {
		return e.fail(exitError, "==> certificate: %v", err)
	}
	if err := writeNew(certOut, cert, 0o644); err != nil {
		return e.fail(exitError, "==> %v", err)
	}
	fmt.Fprintf(e.stdout, "==> Saved %s\n", certOut)
	if err := writeNew(keyOut, key, 0o600); err != nil {
		return e.fail(exitError, "==> %v", err)
	}
	fmt.Fprintf(e.stdout, "==> Saved %s\n", keyOut)
	return exitOK
}

// freeCertNames returns prefix-<n>.pem and prefix-<n>-key.pem for the
// first n neither exists for.
func freeCertNames(prefix string) (string, string, error) {
	for n := 0; n < 10000; n++ {
		cert := fmt.Sprintf("%s-%d.pem", prefix, n)
		key := fmt.Sprintf("%s-%d-key.pem", prefix, n)
		_, cerr := os.Stat(cert)
		_, kerr := os.Stat(key)
		if errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist) {
			return cert, key, nil
		}
	}
	return "", "", fmt.Errorf("no free file name for %s-<n>.pem in %s", prefix, filepath.Clean("."))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

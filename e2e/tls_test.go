package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Protocol bytes of the server port (package rpc).
const (
	protoRPC byte = 0x02
	protoTLS byte = 0x03
)

// cliIn runs the meridian binary in dir with extra environment variables,
// bounded by cliTimeout.
func cliIn(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("meridian %s: still running after %s", strings.Join(args, " "), cliTimeout)
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("meridian %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func mustCLIIn(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	res := cliIn(t, dir, env, args...)
	if res.code != 0 {
		t.Fatalf("meridian %s: exit %d, stderr %q", strings.Join(args, " "), res.code, res.stderr)
	}
	return res.stdout
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// tlsClient trusts the CA of caFile and presents certFile if given.
func tlsClient(t *testing.T, caFile, certFile, keyFile, serverName string) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, caFile))
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

// presentedSerial opens a new TLS connection to addr (after the ProtoTLS
// byte when rpcPort) and returns the serial of the server's certificate.
func presentedSerial(addr string, cfg *tls.Config, rpcPort bool) (*big.Int, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if rpcPort {
		if _, err := raw.Write([]byte{protoTLS}); err != nil {
			return nil, err
		}
	}
	tc := tls.Client(raw, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func httpsClient(t *testing.T, addr, token string, cfg *tls.Config) *api.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := api.NewClient(&api.Config{Address: addr, Scheme: "https", Token: token,
		HttpClient: &http.Client{Transport: tr, Timeout: requestTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectRefused checks that the server closes a plaintext connection that
// selected protocol b without answering.
func expectRefused(t *testing.T, addr string, b byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{b, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("plaintext protocol %#x to %s: read %d, %v; want it closed", b, addr, n, err)
	}
}

// TestTLSCLICertificatesAndSIGHUPReload: `meridian tls ca create` and
// `tls cert create` make files that verify; an agent process serves them
// on HTTPS (the CLI reaching it with -ca-file and with CONSUL_* variables)
// and on its server port, where plaintext is refused; after SIGHUP a new
// connection gets the certificate the changed config names.
func TestTLSCLICertificatesAndSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	out := mustCLIIn(t, dir, nil, "tls", "ca", "create", "-days", "30")
	if !strings.Contains(out, "==> Saved consul-agent-ca.pem") || !strings.Contains(out, "==> Saved consul-agent-ca-key.pem") {
		t.Fatalf("tls ca create said %q", out)
	}
	mustCLIIn(t, dir, nil, "tls", "cert", "create", "-server", "-additional-dnsname", "s1.example", "-additional-ipaddress", "10.9.8.7")
	mustCLIIn(t, dir, nil, "tls", "cert", "create", "-client")
	if res := cliIn(t, dir, nil, "tls", "ca", "create"); res.code == 0 || !strings.Contains(res.stderr, "already exists") {
		t.Errorf("second tls ca create: exit %d, stderr %q", res.code, res.stderr)
	}
	if res := cliIn(t, dir, nil, "tls", "cert", "create"); res.code != 2 || !strings.Contains(res.stderr, "-server and -client") {
		t.Errorf("tls cert create without a role: exit %d, stderr %q", res.code, res.stderr)
	}

	// Another -domain names the CA after it (Consul's names); a CA made by
	// an earlier release (meridian-agent-ca.pem) still signs.
	other := t.TempDir()
	if out := mustCLIIn(t, other, nil, "tls", "ca", "create", "-domain", "example"); !strings.Contains(out, "==> Saved example-agent-ca.pem") {
		t.Errorf("tls ca create -domain example said %q", out)
	}
	if out := mustCLIIn(t, other, nil, "tls", "cert", "create", "-server", "-domain", "example"); !strings.Contains(out, "==> Saved dc1-server-example-0.pem") {
		t.Errorf("tls cert create -domain example said %q", out)
	}
	legacy := t.TempDir()
	for from, to := range map[string]string{"consul-agent-ca.pem": "meridian-agent-ca.pem", "consul-agent-ca-key.pem": "meridian-agent-ca-key.pem"} {
		data, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(legacy, to), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustCLIIn(t, legacy, nil, "tls", "cert", "create", "-client")
	if c := readCert(t, filepath.Join(legacy, "dc1-client-consul-0.pem")); c.CheckSignatureFrom(readCert(t, filepath.Join(dir, "consul-agent-ca.pem"))) != nil {
		t.Error("a certificate made with an earlier release's CA file is not signed by it")
	}

	ca := readCert(t, filepath.Join(dir, "consul-agent-ca.pem"))
	if !ca.IsCA || ca.NotAfter.Sub(time.Now()) > 31*24*time.Hour {
		t.Errorf("CA: IsCA %v, NotAfter %s", ca.IsCA, ca.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, tc := range []struct {
		file, name string
		ok         bool
	}{
		{"dc1-server-consul-0.pem", "server.dc1.consul", true},
		{"dc1-server-consul-0.pem", "s1.example", true},
		{"dc1-server-consul-0.pem", "10.9.8.7", true},
		{"dc1-client-consul-0.pem", "client.dc1.consul", true},
		{"dc1-client-consul-0.pem", "server.dc1.consul", false},
	} {
		_, err := readCert(t, filepath.Join(dir, tc.file)).Verify(x509.VerifyOptions{
			Roots: roots, DNSName: tc.name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
		if (err == nil) != tc.ok {
			t.Errorf("%s for %s: %v, want ok %v", tc.file, tc.name, err, tc.ok)
		}
	}

	file := func(name string) string { return filepath.Join(dir, name) }
	writeConfig := func(cert string) string {
		path := file("tls.hcl")
		hcl := fmt.Sprintf(`tls {
  defaults {
    ca_file = %q
    cert_file = %q
    key_file = %q
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc { verify_server_hostname = true }
}`, file("consul-agent-ca.pem"), file(cert+".pem"), file(cert+"-key.pem"))
		if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	e := newEnv(t)
	httpsPort := freePorts(t, 1, e.taken)[0]
	s := e.startDC("dc1", "s", 1, "-config-file", writeConfig("dc1-server-consul-0"), "-https-port", strconv.Itoa(httpsPort))[0]
	e.waitLeader(startTimeout, "", s)
	httpsAddr := addr(httpsPort)

	clientCfg := tlsClient(t, file("consul-agent-ca.pem"), file("dc1-client-consul-0.pem"), file("dc1-client-consul-0-key.pem"), "")
	if _, err := httpsClient(t, httpsAddr, "", clientCfg).KV().Put(&api.KVPair{Key: "tls/api", Value: []byte("1")}, nil); err != nil {
		t.Fatalf("KV put over HTTPS: %v", err)
	}
	certFlags := []string{"-ca-file", file("consul-agent-ca.pem"), "-client-cert", file("dc1-client-consul-0.pem"), "-client-key", file("dc1-client-consul-0-key.pem")}
	mustCLIIn(t, dir, nil, append(append([]string{"kv", "put", "-http-addr", "https://" + httpsAddr}, certFlags...), "tls/cli", "2")...)
	env := []string{"CONSUL_HTTP_ADDR=" + httpsAddr, "CONSUL_HTTP_SSL=true", "CONSUL_CACERT=" + file("consul-agent-ca.pem"),
		"CONSUL_CLIENT_CERT=" + file("dc1-client-consul-0.pem"), "CONSUL_CLIENT_KEY=" + file("dc1-client-consul-0-key.pem")}
	if got := strings.TrimSpace(mustCLIIn(t, dir, env, "kv", "get", "tls/cli")); got != "2" {
		t.Errorf("kv get with CONSUL_* variables = %q, want 2", got)
	}
	if res := cliIn(t, dir, []string{"CONSUL_HTTP_SSL=true"}, "kv", "get", "-http-addr", httpsAddr, "tls/cli"); res.code == 0 {
		t.Errorf("kv get without the CA succeeded: %q", res.stdout)
	}
	expectRefused(t, s.ServerAddr, protoRPC)

	// Rotate: a new server certificate, the config pointed at it, SIGHUP.
	rpcCfg := tlsClient(t, file("consul-agent-ca.pem"), file("dc1-client-consul-0.pem"), file("dc1-client-consul-0-key.pem"), "server.dc1.consul")
	oldSerial := readCert(t, file("dc1-server-consul-0.pem")).SerialNumber
	if got, err := presentedSerial(s.ServerAddr, rpcCfg, true); err != nil || got.Cmp(oldSerial) != 0 {
		t.Fatalf("RPC port serves %v (%v), want %s", got, err, oldSerial)
	}
	mustCLIIn(t, dir, nil, "tls", "cert", "create", "-server")
	newSerial := readCert(t, file("dc1-server-consul-1.pem")).SerialNumber
	writeConfig("dc1-server-consul-1")
	s.signal(syscall.SIGHUP, false)
	httpsCfg := clientCfg.Clone()
	httpsCfg.ServerName = "localhost"
	e.waitFor(10*time.Second, "the new certificate after SIGHUP", func() error {
		for _, c := range []struct {
			addr string
			cfg  *tls.Config
			rpc  bool
		}{{httpsAddr, httpsCfg, false}, {s.ServerAddr, rpcCfg, true}} {
			got, err := presentedSerial(c.addr, c.cfg, c.rpc)
			if err != nil {
				return err
			}
			if got.Cmp(newSerial) != 0 {
				return fmt.Errorf("%s serves serial %s, want %s", c.addr, got, newSerial)
			}
		}
		return nil
	})
	if pair, _, err := httpsClient(t, httpsAddr, "", clientCfg).KV().Get("tls/api", nil); err != nil || pair == nil {
		t.Fatalf("KV get over HTTPS after the reload: %v, %v", pair, err)
	}
}

// TestSecureTrial: `meridian agent -secure` generates a CA, a server
// certificate, a gossip key and a management token in the data dir, says
// where they are, serves HTTPS only, denies anonymous requests, refuses
// plaintext RPC, and encrypts gossip.
func TestSecureTrial(t *testing.T) {
	e := newEnv(t)
	ports := e.newPorts()
	httpsPort := freePorts(t, 1, e.taken)[0]
	dataDir := t.TempDir()
	p := e.add("secure", ports, "-secure", "-node", "secure1", "-data-dir", dataDir,
		"-bind", "127.0.0.1", "-client", "127.0.0.1", "-https-port", strconv.Itoa(httpsPort), "-log-level", "debug")
	// Leave the HTTP port to -secure (off): drop the harness's -http-port.
	for i, a := range p.Args {
		if a == "-http-port" {
			p.Args = append(p.Args[:i], p.Args[i+2:]...)
			break
		}
	}
	p.start()

	sec := filepath.Join(dataDir, "secure")
	var token []byte
	e.waitFor(startTimeout, "the secure material", func() error {
		var err error
		token, err = os.ReadFile(filepath.Join(sec, "management-token"))
		if err == nil && len(bytes.TrimSpace(token)) == 0 {
			err = errors.New("empty token file")
		}
		return err
	})
	tok := strings.TrimSpace(string(token))
	caFile := filepath.Join(sec, "meridian-agent-ca.pem")
	for _, f := range []string{"meridian-agent-ca-key.pem", "dc1-server-consul-0.pem", "dc1-server-consul-0-key.pem", "gossip.key"} {
		if fi, err := os.Stat(filepath.Join(sec, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want a 0600 file", f, err, fi)
		}
	}
	httpsAddr := addr(httpsPort)
	cfg := tlsClient(t, caFile, "", "", "")
	admin := httpsClient(t, httpsAddr, tok, cfg)
	e.waitFor(startTimeout, "a leader over HTTPS", func() error {
		l, err := admin.Status().Leader()
		if err == nil && l == "" {
			err = errors.New("no leader yet")
		}
		return err
	})
	e.waitFor(startTimeout, "a KV write with the management token", func() error {
		_, err := admin.KV().Put(&api.KVPair{Key: "trial/x", Value: []byte("1")}, nil)
		return err
	})
	anon := httpsClient(t, httpsAddr, "", cfg)
	if _, _, err := anon.KV().Get("trial/x", nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("anonymous KV read: %v, want 403", err)
	}
	if c, err := net.DialTimeout("tcp", p.HTTPAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("plain HTTP answers on %s with -secure", p.HTTPAddr)
	}
	expectRefused(t, p.ServerAddr, protoRPC)
	keys, err := admin.Operator().KeyringList(nil)
	if err != nil {
		t.Fatalf("keyring list: %v", err)
	}
	gossip, _ := os.ReadFile(filepath.Join(sec, "gossip.key"))
	found := false
	for _, k := range keys {
		if _, ok := k.Keys[strings.TrimSpace(string(gossip))]; ok {
			found = true
		}
	}
	if !found {
		t.Errorf("the gossip key of %s is not in the keyring %+v", sec, keys)
	}
	log := p.LogTail(200)
	for _, want := range []string{"management token " + filepath.Join(sec, "management-token"), "CA certificate " + caFile} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q", want)
		}
	}

	// A restart reuses the material: same CA, same token.
	caBefore := readCert(t, caFile).SerialNumber
	p.Restart()
	e.waitFor(startTimeout, "HTTPS after a restart", func() error {
		_, _, err := admin.KV().Get("trial/x", nil)
		return err
	})
	if got := readCert(t, caFile).SerialNumber; got.Cmp(caBefore) != 0 {
		t.Errorf("the CA was regenerated on restart")
	}
}

// TestTLSThreeServerProcesses: three server processes and a client agent
// process, with verify_incoming, verify_outgoing and
// verify_server_hostname on the server port and client certificates
// required on HTTPS, elect a leader and serve KV to the consul/api client
// over HTTPS through every agent; the client agent holds a client-role
// certificate, which serves it to reach the servers.
func TestTLSThreeServerProcesses(t *testing.T) {
	dir := t.TempDir()
	mustCLIIn(t, dir, nil, "tls", "ca", "create")
	mustCLIIn(t, dir, nil, "tls", "cert", "create", "-server")
	mustCLIIn(t, dir, nil, "tls", "cert", "create", "-client")
	file := func(name string) string { return filepath.Join(dir, name) }
	config := func(name, cert string) string {
		hcl := fmt.Sprintf(`tls {
  defaults {
    ca_file = %q
    cert_file = %q
    key_file = %q
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc { verify_server_hostname = true }
}`, file("consul-agent-ca.pem"), file(cert+".pem"), file(cert+"-key.pem"))
		path := file(name)
		if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	serverCfg, clientCfg := config("server.hcl", "dc1-server-consul-0"), config("client.hcl", "dc1-client-consul-0")

	e := newEnv(t)
	ports := make([]agentPorts, 4)
	https := freePorts(t, 4, e.taken)
	for i := range ports {
		ports[i] = e.newPorts()
	}
	var procs []*agentProc
	for i := range ports {
		name := fmt.Sprintf("t%d", i+1)
		args := []string{"-node", name, "-data-dir", t.TempDir(), "-bind", "127.0.0.1", "-client", "127.0.0.1",
			"-retry-interval", "100ms", "-https-port", strconv.Itoa(https[i])}
		if i < 3 {
			args = append(args, "-server", "-bootstrap-expect", "3", "-config-file", serverCfg)
		} else {
			args = append(args, "-config-file", clientCfg)
		}
		for j := 0; j < 3; j++ {
			if j != i {
				args = append(args, "-retry-join", addr(ports[j].SerfLAN))
			}
		}
		procs = append(procs, e.add(name, ports[i], args...))
	}
	for _, p := range procs {
		p.start()
	}
	e.waitLeader(startTimeout, "", procs[:3]...)

	cfg := tlsClient(t, file("consul-agent-ca.pem"), file("dc1-client-consul-0.pem"), file("dc1-client-consul-0-key.pem"), "")
	for i, p := range procs {
		c := httpsClient(t, addr(https[i]), "", cfg)
		key := "tls3/" + p.Name
		e.waitFor(startTimeout, "a KV write over HTTPS through "+p.Name, func() error {
			_, err := c.KV().Put(&api.KVPair{Key: key, Value: []byte(p.Name)}, nil)
			return err
		})
	}
	for i := range procs {
		kv := httpsClient(t, addr(https[i]), "", cfg).KV()
		for _, p := range procs {
			pair, _, err := kv.Get("tls3/"+p.Name, &api.QueryOptions{RequireConsistent: true})
			if err != nil || pair == nil || string(pair.Value) != p.Name {
				t.Fatalf("get tls3/%s through %s: %+v, %v", p.Name, procs[i].Name, pair, err)
			}
		}
	}
	for _, p := range procs[:3] {
		expectRefused(t, p.ServerAddr, protoRPC)
	}
}

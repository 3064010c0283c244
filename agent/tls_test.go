package agent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
	"github.com/meridian-io/meridian/internal/tlsconf"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// pki is a CA and certificates of it on disk.
type pki struct {
	dir string
	ca  *tlsconf.CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := tlsconf.CreateCA(tlsconf.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: t.TempDir(), ca: ca}
	p.write(t, "ca.pem", ca.CertPEM)
	return p
}

func (p *pki) caFile() string { return filepath.Join(p.dir, "ca.pem") }

func (p *pki) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sign writes a certificate of the role as name.pem and name-key.pem.
func (p *pki) sign(t *testing.T, name string, o tlsconf.CertOptions) (certFile, keyFile string) {
	t.Helper()
	c, k, err := p.ca.Sign(o)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", c), p.write(t, name+"-key.pem", k)
}

// clientTLS is a client configuration trusting the CA, with the
// certificate of certFile if given.
func (p *pki) clientTLS(t *testing.T, certFile, keyFile, serverName string) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
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

func tlsHCL(ca, cert, key string) string {
	return fmt.Sprintf(`tls {
  defaults {
    ca_file = %q
    cert_file = %q
    key_file = %q
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc { verify_server_hostname = true }
}`, ca, cert, key)
}

// tlsCluster is 3 servers and a client agent with TLS everywhere
// (verify_incoming, verify_outgoing, verify_server_hostname) and HTTPS
// with client certificates required; servers have a server certificate,
// the client agent a client one.
func tlsCluster(t *testing.T, p *pki) (*testcluster.Cluster, []string) {
	t.Helper()
	srvCert, srvKey := p.sign(t, "server", tlsconf.CertOptions{Server: true, Datacenter: "dc1"})
	cliCert, cliKey := p.sign(t, "client", tlsconf.CertOptions{Datacenter: "dc1"})
	httpsPorts := testcluster.FreePorts(t, 4)
	httpsAddrs := make([]string, len(httpsPorts))
	for i, port := range httpsPorts {
		httpsAddrs[i] = "127.0.0.1:" + strconv.Itoa(port)
	}
	c := testcluster.New(t, testcluster.Options{
		Servers: 3, Clients: 1,
		Args: []string{"-hcl", tlsHCL(p.caFile(), srvCert, srvKey)},
		NodeArgs: func(_ string, i int, server bool) []string {
			args := []string{"-https-port", strconv.Itoa(httpsPorts[i])}
			if !server {
				args = append(args, "-hcl", tlsHCL(p.caFile(), cliCert, cliKey))
			}
			return args
		},
	})
	return c, httpsAddrs
}

func httpsAPI(t *testing.T, addr string, cfg *tls.Config) *api.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := api.NewClient(&api.Config{Address: addr, Scheme: "https", HttpClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSClusterServesKVOverHTTPS: three servers with full TLS elect a
// leader (Raft and RPC over TLS with server names checked) and serve KV
// through the consul/api client over HTTPS, on every agent, the client
// agent's writes reaching the servers over TLS with its client
// certificate. HTTPS refuses a client without a certificate and plain
// HTTP on its port.
func TestTLSClusterServesKVOverHTTPS(t *testing.T) {
	p := newPKI(t)
	c, httpsAddrs := tlsCluster(t, p)
	userCert, userKey := p.sign(t, "user", tlsconf.CertOptions{Datacenter: "dc1"})
	cfg := p.clientTLS(t, userCert, userKey, "")

	for i, addr := range httpsAddrs {
		key := fmt.Sprintf("tls/%d", i)
		if _, err := httpsAPI(t, addr, cfg).KV().Put(&api.KVPair{Key: key, Value: []byte(c.Nodes[i].Name)}, nil); err != nil {
			t.Fatalf("put through %s over HTTPS: %v", c.Nodes[i].Name, err)
		}
	}
	for i, addr := range httpsAddrs {
		kv := httpsAPI(t, addr, cfg).KV()
		for j := range httpsAddrs {
			pair, _, err := kv.Get(fmt.Sprintf("tls/%d", j), &api.QueryOptions{RequireConsistent: true})
			if err != nil || pair == nil || string(pair.Value) != c.Nodes[j].Name {
				t.Fatalf("get tls/%d through %s: %+v, %v", j, c.Nodes[i].Name, pair, err)
			}
		}
	}

	// A blocking read over HTTPS is parked off net/http, answered by a
	// write, and its connection serves the client's next request. The
	// watcher's transport keeps one connection (its next request waits
	// for that one to come back rather than dial); the write goes
	// through another client.
	kv := httpsAPI(t, httpsAddrs[0], cfg).KV()
	wtr := &http.Transport{TLSClientConfig: cfg, MaxConnsPerHost: 1}
	t.Cleanup(wtr.CloseIdleConnections)
	wcl, err := api.NewClient(&api.Config{Address: httpsAddrs[0], Scheme: "https", HttpClient: &http.Client{Transport: wtr, Timeout: 40 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	wkv := wcl.KV()
	_, meta, err := wkv.Get("tls/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		pair *api.KVPair
		err  error
	}
	watched := make(chan got, 1)
	var conns []string // the local address of each traced request's connection
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn.LocalAddr().String()) }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	go func() {
		pair, _, err := wkv.Get("tls/0", (&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second}).WithContext(ctx))
		watched <- got{pair, err}
	}()
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if n := c.Nodes[0].Agent.ParkedRequests(); n != 1 {
			return fmt.Errorf("%d requests parked", n)
		}
		return nil
	})
	if _, err := kv.Put(&api.KVPair{Key: "tls/0", Value: []byte("changed")}, nil); err != nil {
		t.Fatal(err)
	}
	if g := <-watched; g.err != nil || g.pair == nil || string(g.pair.Value) != "changed" {
		t.Fatalf("parked read over HTTPS: %+v, %v", g.pair, g.err)
	}
	if _, _, err := wkv.Get("tls/0", (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		t.Fatalf("read after a parked one over HTTPS: %v", err)
	}
	if len(conns) != 2 || conns[0] != conns[1] {
		t.Fatalf("connections of a parked read and the next one over HTTPS: %v, want the same", conns)
	}

	noCert := httpsAPI(t, httpsAddrs[0], p.clientTLS(t, "", "", ""))
	if _, _, err := noCert.KV().Get("tls/0", nil); err == nil {
		t.Fatal("an HTTPS client without a certificate was served")
	}
	plain, err := api.NewClient(&api.Config{Address: httpsAddrs[0], Scheme: "http", HttpClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.KV().Get("tls/0", nil); err == nil {
		t.Fatal("plain HTTP on the HTTPS port was served")
	}
}

// TestTLSClientCertificateIsNotAServer: against real servers with
// verify_server_hostname, a certificate of the same CA for
// client.dc1.consul calls client methods but not server-only ones, and
// cannot open a Raft stream; plaintext gets nothing at all.
func TestTLSClientCertificateIsNotAServer(t *testing.T) {
	p := newPKI(t)
	c, _ := tlsCluster(t, p)
	leader := c.WaitForLeader(30 * time.Second)
	cliCert, cliKey := p.sign(t, "other-client", tlsconf.CertOptions{Datacenter: "dc1"})
	srvCert, srvKey := p.sign(t, "other-server", tlsconf.CertOptions{Server: true, Datacenter: "dc1"})
	pool := func(certFile, keyFile string) *rpc.Pool {
		cfg := p.clientTLS(t, certFile, keyFile, "server.dc1.consul")
		pl := rpc.NewPool(rpc.PoolConfig{TLS: func(string) *tls.Config { return cfg.Clone() }})
		t.Cleanup(func() { pl.Close() })
		return pl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	client := pool(cliCert, cliKey)
	var status pb.StatusLeaderResponse
	if err := client.Call(ctx, leader.RPCAddr, dc.MethodStatusLeader, &pb.StatusRequest{}, &status); err != nil {
		t.Fatalf("Status.Leader with a client certificate: %v", err)
	}
	for _, m := range []string{dc.MethodReadIndex, dc.MethodStatusRaftIndex} {
		err := client.Call(ctx, leader.RPCAddr, m, &pb.ReadIndexRequest{}, nil)
		if !errors.Is(err, rpc.ErrPermissionDenied) {
			t.Errorf("%s with a client certificate: %v, want permission denied", m, err)
		}
	}
	server := pool(srvCert, srvKey)
	if err := server.Call(ctx, leader.RPCAddr, dc.MethodStatusRaftIndex, &pb.StatusRequest{}, nil); err != nil {
		t.Errorf("Status.RaftIndex with a server certificate: %v", err)
	}

	plain := rpc.NewPool(rpc.PoolConfig{})
	defer plain.Close()
	if err := plain.Call(ctx, leader.RPCAddr, dc.MethodStatusLeader, &pb.StatusRequest{}, nil); !errors.Is(err, rpc.ErrTransport) {
		t.Errorf("plaintext call: %v, want a transport error", err)
	}

	// A Raft stream opened with the client certificate is closed by the
	// server before it reads a byte of Raft.
	raw, err := net.DialTimeout("tcp", leader.RPCAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte{rpc.ProtoTLS}); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, p.clientTLS(t, cliCert, cliKey, "server.dc1.consul"))
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake with a client certificate: %v", err)
	}
	if _, err := tc.Write([]byte{rpc.ProtoRaft}); err != nil {
		t.Fatal(err)
	}
	if n, err := tc.Read(make([]byte, 1)); n > 0 || err == nil || isTimeout(err) {
		t.Fatalf("raft stream with a client certificate: read %d, %v; want it closed", n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// oneHTTPSServer starts one server with TLS (tlsHCL, a server certificate
// of p's CA) serving HTTPS too, with args added; it returns the cluster,
// the HTTPS address and the certificate's file.
func oneHTTPSServer(t *testing.T, p *pki, args ...string) (c *testcluster.Cluster, httpsAddr, certFile string) {
	t.Helper()
	certFile, keyFile := p.sign(t, "server", tlsconf.CertOptions{Server: true, Datacenter: "dc1"})
	httpsPort := testcluster.FreePorts(t, 1)[0]
	c = testcluster.New(t, testcluster.Options{
		Servers: 1,
		Args:    append([]string{"-hcl", tlsHCL(p.caFile(), certFile, keyFile), "-https-port", strconv.Itoa(httpsPort)}, args...),
	})
	return c, "127.0.0.1:" + strconv.Itoa(httpsPort), certFile
}

// TestTLSReloadServesNewCertificate: after the certificate files change, a
// reload (what SIGHUP does) makes new HTTPS and RPC connections present
// the new certificate; the old connection keeps working.
func TestTLSReloadServesNewCertificate(t *testing.T) {
	p := newPKI(t)
	c, httpsAddr, certFile := oneHTTPSServer(t, p)
	n := c.Nodes[0]
	userCert, userKey := p.sign(t, "user", tlsconf.CertOptions{Datacenter: "dc1"})
	cfg := p.clientTLS(t, userCert, userKey, "")

	old := serialOf(t, httpsAddr, cfg, false)
	if want := certSerial(t, certFile); old.Cmp(want) != 0 {
		t.Fatalf("HTTPS serves serial %s, want %s", old, want)
	}
	kept, err := tls.Dial("tcp", httpsAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()

	// Replace the files in place, as a renewal does, and reload.
	newCert, newKey, err := p.ca.Sign(tlsconf.CertOptions{Server: true, Datacenter: "dc1"})
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "server-key.pem", newKey)
	p.write(t, "server.pem", newCert)
	if err := n.Agent.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	want := certSerial(t, certFile)
	if want.Cmp(old) == 0 {
		t.Fatal("the new certificate has the old serial")
	}
	if got := serialOf(t, httpsAddr, cfg, false); got.Cmp(want) != 0 {
		t.Errorf("HTTPS after reload serves serial %s, want the new %s", got, want)
	}
	if got := serialOf(t, n.RPCAddr, p.clientTLS(t, userCert, userKey, "server.dc1.consul"), true); got.Cmp(want) != 0 {
		t.Errorf("RPC port after reload serves serial %s, want the new %s", got, want)
	}
	if got := kept.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(old) != 0 {
		t.Errorf("the open connection changed certificate")
	}

	// A reload with a broken key keeps the running certificate.
	p.write(t, "server-key.pem", []byte("not a key"))
	if err := n.Agent.Reload(); err == nil {
		t.Error("reload with a broken key succeeded")
	}
	if got := serialOf(t, httpsAddr, cfg, false); got.Cmp(want) != 0 {
		t.Errorf("after a failed reload HTTPS serves serial %s, want %s", got, want)
	}
}

// serialOf opens a new TLS connection to addr (through ProtoTLS on an RPC
// port) and returns the serial of the certificate the server presents.
func serialOf(t *testing.T, addr string, cfg *tls.Config, rpcPort bool) *big.Int {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if rpcPort {
		if _, err := raw.Write([]byte{rpc.ProtoTLS}); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = "localhost"
	}
	tc := tls.Client(raw, cfg)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber
}

func certSerial(t *testing.T, path string) *big.Int {
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
	return c.SerialNumber
}

// TestTLSFederationChecksEachDatacentersServerName: with
// verify_server_hostname, a server forwarding to another datacenter
// expects that datacenter's server name (server.dc2.consul), and the
// servers of each datacenter hold only their own.
func TestTLSFederationChecksEachDatacentersServerName(t *testing.T) {
	p := newPKI(t)
	certs := map[string][2]string{}
	for _, dcName := range []string{"dc1", "dc2"} {
		c, k := p.sign(t, "server-"+dcName, tlsconf.CertOptions{Server: true, Datacenter: dcName})
		certs[dcName] = [2]string{c, k}
	}
	f := testcluster.NewFederation(t, 2, testcluster.Options{
		Servers: 1,
		NodeArgs: func(dcName string, _ int, _ bool) []string {
			return []string{"-hcl", tlsHCL(p.caFile(), certs[dcName][0], certs[dcName][1])}
		},
	})
	client := func(n *testcluster.Node) *api.Client {
		c, err := api.NewClient(&api.Config{Address: n.HTTPAddr, HttpClient: &http.Client{Timeout: 20 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dc1, dc2 := f.DC("dc1").Nodes[0], f.DC("dc2").Nodes[0]
	if _, err := client(dc1).KV().Put(&api.KVPair{Key: "fed/x", Value: []byte("from dc1")}, &api.WriteOptions{Datacenter: "dc2"}); err != nil {
		t.Fatalf("put in dc2 through dc1: %v", err)
	}
	pair, _, err := client(dc2).KV().Get("fed/x", nil)
	if err != nil || pair == nil || string(pair.Value) != "from dc1" {
		t.Fatalf("dc2 holds %+v, %v", pair, err)
	}
	if pair, _, err := client(dc1).KV().Get("fed/x", nil); err != nil || pair != nil {
		t.Fatalf("dc1 holds %+v, %v; the write was for dc2", pair, err)
	}
}

// TestHTTPSServesHTTP2: the consul/api client configured as an operator
// configures it for HTTPS (api.Config's TLSConfig; its default transport
// attempts HTTP/2) speaks HTTP/2 to the agent, as it does to Consul's
// HTTPS port: 50 blocking queries (of 50 keys, so that none shares
// another's wait) share one TCP connection, wait on the server (not
// parked: parking is for HTTP/1.1 connections), and are all answered by
// one transaction, with a per-client limit of one connection; 50 more
// whose client gives up stop waiting on the server.
func TestHTTPSServesHTTP2(t *testing.T) {
	p := newPKI(t)
	c, httpsAddr, _ := oneHTTPSServer(t, p, "-hcl", "limits { http_max_conns_per_client = 1 }")
	n := c.Nodes[0]
	userCert, userKey := p.sign(t, "user", tlsconf.CertOptions{Datacenter: "dc1"})
	cfg := api.DefaultConfig()
	httpsURL := "https://" + httpsAddr
	cfg.Address = httpsURL
	cfg.TLSConfig = api.TLSConfig{CAFile: p.caFile(), CertFile: userCert, KeyFile: userKey}
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cfg.Transport.CloseIdleConnections)
	kv := client.KV()

	var mu sync.Mutex
	conns := map[string]bool{} // local addresses of the connections used
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		mu.Lock()
		conns[i.Conn.LocalAddr().String()] = true
		mu.Unlock()
	}})
	const watchers = 50
	ops := func(v string) api.TxnOps {
		var ops api.TxnOps
		for i := range watchers {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: fmt.Sprintf("h2/%d", i), Value: []byte(v)}})
		}
		return ops
	}
	if ok, _, _, err := client.Txn().Txn(ops("v0"), (&api.QueryOptions{}).WithContext(ctx)); err != nil || !ok {
		t.Fatalf("txn: %v, %v", ok, err)
	}
	_, meta, err := kv.Get("h2/0", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	// The protocol of the connection, as the client's transport saw it.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpsURL+"/v1/status/leader", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: cfg.Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("HTTPS answered over %s, want HTTP/2", resp.Proto)
	}

	type got struct {
		pair *api.KVPair
		err  error
	}
	answers := make(chan got, watchers)
	for i := range watchers {
		go func() {
			pair, _, err := kv.Get(fmt.Sprintf("h2/%d", i), (&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second}).WithContext(ctx))
			answers <- got{pair, err}
		}()
	}
	srv := n.Agent.Server()
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if q := srv.BlockingQueries(); q != watchers {
			return fmt.Errorf("%d blocking queries waiting, want %d", q, watchers)
		}
		return nil
	})
	if parked := n.Agent.ParkedRequests(); parked != 0 {
		t.Fatalf("%d HTTP/2 requests parked, want 0", parked)
	}
	if ok, _, _, err := client.Txn().Txn(ops("v1"), (&api.QueryOptions{}).WithContext(ctx)); err != nil || !ok {
		t.Fatalf("txn: %v, %v", ok, err)
	}
	for range watchers {
		g := <-answers
		if g.err != nil || g.pair == nil || string(g.pair.Value) != "v1" {
			t.Fatalf("blocking query over HTTP/2: %+v, %v", g.pair, g.err)
		}
	}
	// A client that gives up (its context ends: HTTP/2 resets the stream)
	// ends the server's wait as well.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, meta, err = kv.Get("h2/0", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	gaveUp := make(chan error, watchers)
	for i := range watchers {
		go func() {
			_, _, err := kv.Get(fmt.Sprintf("h2/%d", i), (&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second}).WithContext(cctx))
			gaveUp <- err
		}()
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if q := srv.BlockingQueries(); q != watchers {
			return fmt.Errorf("%d blocking queries waiting, want %d", q, watchers)
		}
		return nil
	})
	cancel()
	for range watchers {
		if err := <-gaveUp; err == nil {
			t.Fatal("a cancelled blocking query returned no error")
		}
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if q := srv.BlockingQueries(); q != 0 {
			return fmt.Errorf("%d blocking queries still waiting after their clients left", q)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("requests over %d connections, want 1: %v", len(conns), conns)
	}
}

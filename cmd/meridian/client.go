package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/agent/watch"
)

// defaultHTTPAddr is where the local agent serves its HTTP API.
const defaultHTTPAddr = "127.0.0.1:8500"

// Environment variables read by every client command, Meridian's first,
// then Consul's so existing shells keep working. The official client's
// defaults read the other CONSUL_* variables (CONSUL_HTTP_TOKEN_FILE,
// CONSUL_HTTP_SSL, CONSUL_CACERT, ...).
var (
	envHTTPAddr  = []string{"MERIDIAN_HTTP_ADDR", "CONSUL_HTTP_ADDR"}
	envHTTPToken = []string{"MERIDIAN_HTTP_TOKEN", "CONSUL_HTTP_TOKEN"}
	envHTTPSSL   = []string{"MERIDIAN_HTTP_SSL", "CONSUL_HTTP_SSL"}
	envSSLVerify = []string{"MERIDIAN_HTTP_SSL_VERIFY", "CONSUL_HTTP_SSL_VERIFY"}
	envCACert    = []string{"MERIDIAN_CACERT", "CONSUL_CACERT"}
	envCAPath    = []string{"MERIDIAN_CAPATH", "CONSUL_CAPATH"}
	envCert      = []string{"MERIDIAN_CLIENT_CERT", "CONSUL_CLIENT_CERT"}
	envKey       = []string{"MERIDIAN_CLIENT_KEY", "CONSUL_CLIENT_KEY"}
	envTLSName   = []string{"MERIDIAN_TLS_SERVER_NAME", "CONSUL_TLS_SERVER_NAME"}
)

// httpFlags are the flags every client command shares. Empty values fall
// back to the environment when the client is built.
type httpFlags struct {
	addr  string
	token string
	dc    string
	stale bool
	// TLS of an https:// address (or $CONSUL_HTTP_SSL=true).
	caFile, caPath, clientCert, clientKey, tlsServerName string
}

// register adds -http-addr, -token and -datacenter (alias -dc) to fs, and
// -stale when the command only reads.
func (h *httpFlags) register(fs *flag.FlagSet, reads bool) {
	fs.StringVar(&h.addr, "http-addr", "",
		"Address of the agent's HTTP API, `host:port` or http://host:port. Defaults to "+
			"$MERIDIAN_HTTP_ADDR, then $CONSUL_HTTP_ADDR, then "+defaultHTTPAddr+".")
	fs.StringVar(&h.token, "token", "",
		"ACL token sent as X-Consul-Token. Defaults to $MERIDIAN_HTTP_TOKEN, then $CONSUL_HTTP_TOKEN.")
	fs.StringVar(&h.dc, "datacenter", "",
		"Name of the datacenter to query. Defaults to the agent's datacenter.")
	fs.StringVar(&h.dc, "dc", "", "Alias of -datacenter.")
	fs.StringVar(&h.caFile, "ca-file", "", "`path` to a CA file to verify the agent's HTTPS certificate with. Defaults to $CONSUL_CACERT.")
	fs.StringVar(&h.caPath, "ca-path", "", "`path` to a directory of CA certificates. Defaults to $CONSUL_CAPATH.")
	fs.StringVar(&h.clientCert, "client-cert", "", "`path` to a client certificate for an agent with verify_incoming. Defaults to $CONSUL_CLIENT_CERT.")
	fs.StringVar(&h.clientKey, "client-key", "", "`path` to the client certificate's key. Defaults to $CONSUL_CLIENT_KEY.")
	fs.StringVar(&h.tlsServerName, "tls-server-name", "", "`name` to expect in the agent's certificate (SNI). Defaults to $CONSUL_TLS_SERVER_NAME.")
	if reads {
		fs.BoolVar(&h.stale, "stale", false,
			"Permit any server (not only the leader) to answer. Results may be stale, "+
				"but the read works without a leader.")
	}
}

// agentClient is the official API client (github.com/hashicorp/consul/api)
// the flags describe. It owns its transport; close releases the idle
// connections so a command leaves no goroutine behind.
type agentClient struct {
	*api.Client
	config    api.Config // as api.NewClient completed it
	stale     bool
	transport *http.Transport
}

// client builds the API client the flags describe.
func (h *httpFlags) client(getenv func(string) string) (*agentClient, error) {
	addr := firstNonEmpty(h.addr, getenv, envHTTPAddr)
	if addr == "" {
		addr = defaultHTTPAddr
	}
	base, err := watch.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	tr := api.DefaultConfig().Transport
	cfg, err := watch.Config(base.String(), h.dc, firstNonEmpty(h.token, getenv, envHTTPToken), tr)
	if err != nil {
		return nil, err
	}
	if err := h.applyTLS(cfg, addr, getenv); err != nil {
		return nil, err
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &agentClient{Client: c, config: *cfg, stale: h.stale, transport: tr}, nil
}

// close releases the client's idle connections.
func (c *agentClient) close() { c.transport.CloseIdleConnections() }

// read is the options of a read: -stale, and ctx.
func (c *agentClient) read(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{AllowStale: c.stale}).WithContext(ctx)
}

// write is the options of a write, bound to ctx.
func (c *agentClient) write(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// firstNonEmpty returns value if set, else the first non-empty variable of
// names.
func firstNonEmpty(value string, getenv func(string) string, names []string) string {
	if value != "" {
		return value
	}
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// applyTLS sets the client's TLS from the flags and the environment, as
// Consul's CLI: an address without a scheme is https when
// $CONSUL_HTTP_SSL is true; $CONSUL_HTTP_SSL_VERIFY=false skips the
// verification of the agent's certificate.
func (h *httpFlags) applyTLS(cfg *api.Config, addr string, getenv func(string) string) error {
	if v := firstNonEmpty("", getenv, envHTTPSSL); v != "" && !strings.Contains(addr, "://") {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("CONSUL_HTTP_SSL %q: want true or false", v)
		}
		if on {
			cfg.Scheme = "https"
		}
	}
	if v := firstNonEmpty("", getenv, envSSLVerify); v != "" {
		verify, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("CONSUL_HTTP_SSL_VERIFY %q: want true or false", v)
		}
		cfg.TLSConfig.InsecureSkipVerify = !verify
	}
	set := func(dst *string, flag string, env []string) {
		if v := firstNonEmpty(flag, getenv, env); v != "" {
			*dst = v
		}
	}
	set(&cfg.TLSConfig.CAFile, h.caFile, envCACert)
	set(&cfg.TLSConfig.CAPath, h.caPath, envCAPath)
	set(&cfg.TLSConfig.CertFile, h.clientCert, envCert)
	set(&cfg.TLSConfig.KeyFile, h.clientKey, envKey)
	set(&cfg.TLSConfig.Address, h.tlsServerName, envTLSName)
	if (cfg.TLSConfig.CertFile == "") != (cfg.TLSConfig.KeyFile == "") {
		return fmt.Errorf("-client-cert and -client-key must be given together")
	}
	return nil
}

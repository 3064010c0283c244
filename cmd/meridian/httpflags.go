package main

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// defaultHTTPAddr is where the local agent serves its HTTP API.
const defaultHTTPAddr = "127.0.0.1:8500"

// Environment variables read by every client command, Meridian's first,
// then Consul's so existing shells keep working.
var (
	envHTTPAddr  = []string{"MERIDIAN_HTTP_ADDR", "CONSUL_HTTP_ADDR"}
	envHTTPToken = []string{"MERIDIAN_HTTP_TOKEN", "CONSUL_HTTP_TOKEN"}
)

// httpFlags are the flags every client command shares. Empty values fall
// back to the environment when the client is built.
type httpFlags struct {
	addr  string
	token string
	dc    string
	stale bool
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
	if reads {
		fs.BoolVar(&h.stale, "stale", false,
			"Permit any server (not only the leader) to answer. Results may be stale, "+
				"but the read works without a leader.")
	}
}

// client builds the API client the flags describe.
func (h *httpFlags) client(getenv func(string) string) (*apiClient, error) {
	addr := firstNonEmpty(h.addr, getenv, envHTTPAddr)
	if addr == "" {
		addr = defaultHTTPAddr
	}
	base, err := parseHTTPAddr(addr)
	if err != nil {
		return nil, err
	}
	token := firstNonEmpty(h.token, getenv, envHTTPToken)
	return newAPIClient(base, token, h.dc, h.stale), nil
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

// parseHTTPAddr accepts host:port, http://host:port and https://host:port,
// optionally followed by a path prefix (a proxy in front of the agent), and
// returns the API root.
func parseHTTPAddr(addr string) (url.URL, error) {
	raw := strings.TrimSpace(addr)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: unsupported scheme %q (want http or https)", addr, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: missing host", addr)
	}
	return url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}, nil
}

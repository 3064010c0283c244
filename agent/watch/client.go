package watch

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/consul/api"
)

// ParseAddr reads an agent HTTP address: host:port, or an http:// or
// https:// URL with an optional path prefix. It returns the API root.
func ParseAddr(addr string) (url.URL, error) {
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
	if u.Hostname() == "" {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: missing host", addr)
	}
	return url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}, nil
}

// Config is the official API client's configuration for the agent at
// addr (see ParseAddr), datacenter dc and token, over transport (nil: a
// pooled transport of its own). What addr, dc and token leave unset comes
// from the client's defaults, which read CONSUL_HTTP_TOKEN,
// CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_SSL and the other CONSUL_*
// variables. Build the client with api.NewClient.
func Config(addr, dc, token string, transport *http.Transport) (*api.Config, error) {
	base, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	cfg.Address = base.String()
	cfg.Datacenter = dc
	if token != "" {
		cfg.Token = token
	}
	if transport != nil {
		cfg.Transport = transport
	}
	return cfg, nil
}

package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/tlsconf"
	"github.com/meridian-io/meridian/rpc"
)

// tlsConfigOf is the configurator's view of cfg.
func tlsConfigOf(cfg *config.Config) tlsconf.Config {
	return tlsconf.Config{
		HTTPS:       cfg.TLS.HTTPS,
		InternalRPC: cfg.TLS.InternalRPC,
		Datacenter:  cfg.Datacenter,
		Domain:      cfg.Domain,
	}
}

// startTLS loads the certificates of the tls block (generating them first
// for -secure). Every listener and dialer reads the configurator at each
// new connection, so Reload reaches them all.
func (a *Agent) startTLS() error {
	if a.cfg.Secure {
		notes, err := applySecure(a.cfg)
		if err != nil {
			return err
		}
		a.secureNotes = notes
	}
	c, err := tlsconf.New(tlsConfigOf(a.cfg))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.tls = c
	return nil
}

// outgoingRPCTLS is the TLS configuration of the agent's dials to servers
// (nil: plaintext).
func (a *Agent) outgoingRPCTLS(dc string) *tls.Config {
	return a.tls.OutgoingRPCConfig(dc)
}

// authorizeRPC refuses server-only calls from peers that are not servers:
// with verify_server_hostname, a method only servers call
// (dc.ServerOnlyMethod), or any call relayed from another datacenter,
// needs a peer certificate naming server.<dc>.<domain>.
func (a *Agent) authorizeRPC(ctx context.Context, method string) error {
	if !a.tls.ServerIdentityRequired() {
		return nil
	}
	if rpc.RelayHops(ctx) == 0 && !dc.ServerOnlyMethod(method) {
		return nil
	}
	if err := a.tls.AuthorizeServer(rpc.PeerTLS(ctx), true); err != nil {
		return fmt.Errorf("%w: %s is for servers only: %v", rpc.ErrPermissionDenied, method, err)
	}
	return nil
}

// listenHTTPS opens the HTTPS listeners (ports.https on each HTTPS
// address), each behind the per-client connection limit.
func (a *Agent) listenHTTPS() ([]net.Listener, error) {
	if a.cfg.Ports.HTTPS == config.PortDisabled {
		return nil, nil
	}
	if !a.tls.HTTPSEnabled() {
		return nil, fmt.Errorf("agent: ports.https needs a certificate (tls.https cert_file and key_file)")
	}
	addrs := a.cfg.HTTPSAddrs
	if len(addrs) == 0 {
		addrs = []string{a.cfg.ClientAddr}
	}
	var lns []net.Listener
	for _, ip := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(a.cfg.Ports.HTTPS)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("agent: https port: %w", err)
		}
		cl := newConnLimitListener(ln, a.cfg.Limits.HTTPMaxConnsPerClient, a.log)
		a.httpConns = append(a.httpConns, cl)
		lns = append(lns, tls.NewListener(cl, a.tls.IncomingHTTPSConfig()))
	}
	return lns, nil
}

// HTTPSAddr is where the HTTPS API listens (the first address), "" if it
// does not.
func (a *Agent) HTTPSAddr() string {
	if a.httpsLn == nil {
		return ""
	}
	return a.httpsLn.Addr().String()
}

// reloadTLS applies the tls settings of a reloaded configuration: new
// connections use the new certificates, open ones keep theirs.
func (a *Agent) reloadTLS(cfg *config.Config) error {
	if a.cfg.Secure {
		if _, err := applySecure(cfg); err != nil {
			return err
		}
	}
	if err := a.tls.Update(tlsConfigOf(cfg)); err != nil {
		return err
	}
	a.cfg.TLS = cfg.TLS
	return nil
}

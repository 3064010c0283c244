package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"golang.org/x/net/http2"
)

// h2pingProbe is an H2PING check (Consul's CheckH2PING): it opens an
// HTTP/2 connection to the address (over TLS with H2PingUseTLS, verified
// unless TLSSkipVerify, else cleartext h2c) and sends a PING; an answer
// within the timeout is passing, anything else critical.
func h2pingProbe(spec *CheckSpec) probeFunc {
	var tlsCfg *tls.Config
	if spec.H2PingUseTLS {
		tlsCfg = tlsConfig(spec)
		tlsCfg.NextProtos = []string{http2.NextProtoTLS}
	}
	tr := &http2.Transport{AllowHTTP: tlsCfg == nil}
	return func(ctx context.Context) (string, string) {
		ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
		var conn net.Conn
		var err error
		if tlsCfg != nil {
			d := &tls.Dialer{Config: tlsCfg}
			conn, err = d.DialContext(ctx, "tcp", spec.H2PING)
		} else {
			var d net.Dialer
			conn, err = d.DialContext(ctx, "tcp", spec.H2PING)
		}
		if err != nil {
			return StatusCritical, fmt.Sprintf("Failed to dial %s: %v", spec.H2PING, err)
		}
		defer conn.Close()
		cc, err := tr.NewClientConn(conn)
		if err != nil {
			return StatusCritical, fmt.Sprintf("Failed to open an HTTP/2 connection to %s: %v", spec.H2PING, err)
		}
		defer cc.Close()
		if err := cc.Ping(ctx); err != nil {
			return StatusCritical, fmt.Sprintf("Failed to ping %s: %v", spec.H2PING, err)
		}
		return StatusPassing, "HTTP2 ping was successful"
	}
}

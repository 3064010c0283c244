package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// tcpProbe is a TCP check: a successful connect (and TLS handshake with
// TCPUseTLS) is passing, an error critical.
func tcpProbe(spec *CheckSpec) probeFunc {
	return func(ctx context.Context) (string, string) {
		ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
		kind := "TCP"
		var conn net.Conn
		var err error
		if spec.TCPUseTLS {
			kind = "TCP+TLS"
			d := &tls.Dialer{Config: tlsConfig(spec)}
			conn, err = d.DialContext(ctx, "tcp", spec.TCP)
		} else {
			var d net.Dialer
			conn, err = d.DialContext(ctx, "tcp", spec.TCP)
		}
		if err != nil {
			return StatusCritical, err.Error()
		}
		_ = conn.Close()
		return StatusPassing, fmt.Sprintf("%s connect %s: Success", kind, spec.TCP)
	}
}

// udpPayload is the datagram a UDP check sends.
const udpPayload = "ping"

// udpProbe is a UDP check (Consul's CheckUDP): it sends a datagram and
// waits for a reply until the timeout; a reply or a silent timeout is
// passing, an error (such as ICMP port unreachable) critical.
func udpProbe(spec *CheckSpec) probeFunc {
	return func(ctx context.Context) (string, string) {
		success := fmt.Sprintf("UDP connect %s: Success", spec.UDP)
		ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(ctx, "udp", spec.UDP)
		if err != nil {
			return StatusCritical, err.Error()
		}
		defer conn.Close()
		deadline, _ := ctx.Deadline()
		_ = conn.SetDeadline(deadline)
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		if _, err := conn.Write([]byte(udpPayload)); err != nil {
			return StatusCritical, err.Error()
		}
		buf := make([]byte, 1)
		if _, err := conn.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return StatusPassing, success
			}
			return StatusCritical, err.Error()
		}
		return StatusPassing, success
	}
}

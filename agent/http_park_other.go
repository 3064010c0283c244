//go:build !linux

package agent

import (
	"context"
	"net"
)

// epollWatch exists on Linux only; elsewhere a goroutine reads from each
// parked connection.
type epollWatch struct{}

func (*epollWatch) close() {}

func (*epollWatch) closeIdle() {}

func (*epollWatch) idleConns() int { return 0 }

func newHangupWatch() *epollWatch { return nil }

func (p *parker) watchHangup(conn net.Conn, cancel context.CancelFunc) hangup {
	return p.watchByRead(conn, cancel)
}

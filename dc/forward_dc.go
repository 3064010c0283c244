package dc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/wan"
)

// Router is the server's map of the other datacenters: *wan.Router, kept
// current by the WAN pool. A server without one knows only its own
// datacenter.
type Router interface {
	// ServersFor returns dc's routable servers, nearest first; its errors
	// wrap wan.ErrNoPathToDC or wan.ErrNoServers.
	ServersFor(dc string) ([]wan.Server, error)
	// MarkFailed keeps a server that failed an RPC out of routing for a
	// while; MarkHealthy brings it back at once.
	MarkFailed(name string) error
	MarkHealthy(name string) error
	// Datacenters lists every known datacenter, the local one first, then
	// by RTT.
	Datacenters() []string
}

// forwardDC sends a request naming another datacenter to that
// datacenter's nearest server, which answers it as its own (forwarding to
// its leader as needed). It reports whether dc named another datacenter.
//
// After a transport error the server is marked failed and the next one is
// tried: for a read always, for a write only when the request surely did
// not leave (rpc.ErrNotSent), since a write that reached a server may have
// been applied. An answer from the remote datacenter, error or not, is
// final. A datacenter with no routable server fails at once with Consul's
// "No path to datacenter".
func (s *Server) forwardDC(ctx context.Context, method, dc string, read bool, req, resp proto.Message) (bool, error) {
	if dc == "" || dc == s.cfg.Datacenter {
		return false, nil
	}
	if s.deps.Router == nil {
		return true, fmt.Errorf("%w %q", rpc.ErrNoPathToDC, dc)
	}
	servers, err := s.deps.Router.ServersFor(dc)
	if errors.Is(err, wan.ErrNoPathToDC) {
		return true, fmt.Errorf("%w %q", rpc.ErrNoPathToDC, dc)
	}
	if err != nil {
		return true, fmt.Errorf("%w %q: %v", rpc.ErrNoPathToDC, dc, err)
	}
	var last error
	for _, srv := range servers {
		err := s.deps.Pool.Call(ctx, srv.Addr, method, req, resp)
		if err == nil {
			_ = s.deps.Router.MarkHealthy(srv.Name)
			return true, nil
		}
		if !errors.Is(err, rpc.ErrTransport) {
			return true, err
		}
		_ = s.deps.Router.MarkFailed(srv.Name)
		s.log.Debug("forward to another datacenter failed", "dc", dc, "server", srv.Name, "method", method, "error", err)
		last = err
		if ctx.Err() != nil || (!read && !errors.Is(err, rpc.ErrNotSent)) {
			return true, err
		}
	}
	return true, fmt.Errorf("%w %q: every server failed, last: %v", rpc.ErrNoPathToDC, dc, last)
}

// Datacenters lists the datacenters this server can route to, its own
// first, then the others nearest first.
func (s *Server) Datacenters() []string {
	if s.deps.Router == nil {
		return []string{s.cfg.Datacenter}
	}
	return s.deps.Router.Datacenters()
}

package dc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/clock"
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
	// RelaysFor lists the servers of third datacenters a request for dc
	// may be relayed through, best path first; its errors wrap
	// wan.ErrNoPathToDC or wan.ErrNoServers when nobody reaches dc.
	RelaysFor(dc string) ([]wan.Server, error)
}

// MaxRelayHops is how many datacenters a request may be relayed through
// on its way to the one it names. A server that receives a request already
// relayed that many times forwards it only directly, so relays never loop.
const MaxRelayHops = 1

// forwardDC sends a request naming another datacenter to that
// datacenter's nearest server, which answers it as its own (forwarding to
// its leader as needed). It reports whether dc named another datacenter.
//
// After a transport error the server is marked failed and the next one is
// tried: for a read always, for a write only when the request surely did
// not leave (rpc.ErrNotSent), since a write that reached a server may have
// been applied. An answer from the remote datacenter, error or not, is
// final. When no server of dc can be reached directly (every one failed
// or is marked failed) the request is relayed through a third datacenter
// (see relayDC). A datacenter nobody reaches fails with Consul's "No path
// to datacenter". Once failoverWindow has passed since the request began,
// a failed attempt ends it instead of trying further servers or relays.
func (s *Server) forwardDC(ctx context.Context, method, dc string, read bool, req, resp proto.Message) (bool, error) {
	if dc == "" || dc == s.cfg.Datacenter {
		return false, nil
	}
	if s.deps.Router == nil {
		return true, fmt.Errorf("%w %q", rpc.ErrNoPathToDC, dc)
	}
	start := s.clock.Now()
	servers, err := s.deps.Router.ServersFor(dc)
	if errors.Is(err, wan.ErrNoPathToDC) {
		return true, fmt.Errorf("%w %q", rpc.ErrNoPathToDC, dc)
	}
	if err != nil {
		return true, s.relayDC(ctx, method, dc, read, req, resp, start, fmt.Errorf("%w %q: %v", rpc.ErrNoPathToDC, dc, err))
	}
	var last error
	for _, srv := range servers {
		began := time.Now()
		err := s.callRoutable(ctx, srv, method, req, resp)
		s.crossDCMetrics(dc, method, began, err)
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
		if s.failoverSpent(start) {
			return true, fmt.Errorf("%w %q: no server answered within %s, last: %v", rpc.ErrNoPathToDC, dc, failoverWindow, last)
		}
	}
	return true, s.relayDC(ctx, method, dc, read, req, resp, start, fmt.Errorf("%w %q: every server failed, last: %v", rpc.ErrNoPathToDC, dc, last))
}

// failoverWindow is how long after a request for another datacenter began
// a failed attempt may still be followed by another server or a relay.
// An attempt on a server that cannot be reached fails within 2 s: a dial
// into a black hole within rpc's DialTimeout (2 s), a refused one at once,
// and a call on a session that went dark within wanPingBounds (0.5 + 1 s;
// its answer itself is not bounded: blocking queries wait minutes on a
// live session). So a known datacenter with no
// reachable server answers an error within failoverWindow + 2 s = 4.5 s,
// and a first attempt on a dark session leaves time for a relay.
const failoverWindow = 2500 * time.Millisecond

// failoverSpent reports whether failoverWindow has passed since start.
func (s *Server) failoverSpent(start time.Time) bool {
	return s.clock.Now().Sub(start) >= failoverWindow
}

// relayDC sends a request for dc, which this server cannot reach directly
// (direct is why), through a server of a third datacenter that forwards it
// on: the relays the router offers, best estimated path first. The call
// carries one more relay hop, and a request that arrived with MaxRelayHops
// is not relayed again. A relay that answers "no path" (it cannot reach dc
// either; nothing was applied) passes the turn to the next datacenter;
// after a transport error the relay is marked failed and the next one is
// tried under forwardDC's rule for writes; any other answer is final. A
// success notes the relay's datacenter (rpc.NoteRelay) for the response.
// Relays are tried only while failoverWindow since start lasts.
func (s *Server) relayDC(ctx context.Context, method, dc string, read bool, req, resp proto.Message, start time.Time, direct error) error {
	hops := rpc.RelayHops(ctx)
	if hops >= MaxRelayHops || s.failoverSpent(start) {
		return direct
	}
	relays, err := s.deps.Router.RelaysFor(dc)
	if err != nil || len(relays) == 0 || ctx.Err() != nil {
		return direct
	}
	rctx := rpc.WithRelayHops(ctx, hops+1)
	refused := map[string]bool{} // datacenters that cannot reach dc either
	last := direct
	for _, srv := range relays {
		if refused[srv.Datacenter] {
			continue
		}
		err := s.callRoutable(rctx, srv, method, req, resp)
		if err == nil {
			_ = s.deps.Router.MarkHealthy(srv.Name)
			rpc.NoteRelay(ctx, srv.Datacenter)
			s.log.Debug("relayed a request to another datacenter", "dc", dc, "relay", srv.Name, "method", method)
			return nil
		}
		last = err
		switch {
		case errors.Is(err, rpc.ErrNoPathToDC):
			refused[srv.Datacenter] = true
			continue
		case !errors.Is(err, rpc.ErrTransport):
			return err
		}
		_ = s.deps.Router.MarkFailed(srv.Name)
		if ctx.Err() != nil || (!read && !errors.Is(err, rpc.ErrNotSent)) {
			return err
		}
		if s.failoverSpent(start) {
			break
		}
	}
	return fmt.Errorf("%w; no relay reached it either, last: %v", direct, last)
}

// routeCheckInterval is how often a call to another datacenter that is
// still in flight checks that gossip still lists its server.
const routeCheckInterval = 500 * time.Millisecond

// errRouteLost says the server of a call in flight left routing.
var errRouteLost = errors.New("the server left routing while the call was in flight")

// callRoutable makes one call to srv, a server of another datacenter. A
// call in flight on a connection whose link went dark fails once its
// session's pings go unanswered (rpc.ErrUnresponsive, within 1.5 s by
// wanPingBounds), and also as soon as the router no longer lists srv
// (gossip declared it failed, or another call marked it failed): a
// transport error either way, which
// forwardDC treats like any other (the next server for a read; for a
// write, since it was sent, an error of unknown outcome).
func (s *Server) callRoutable(ctx context.Context, srv wan.Server, method string, req, resp proto.Message) error {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu      sync.Mutex
		timer   clock.Timer
		stopped bool
		check   func()
	)
	check = func() {
		if !s.routable(srv) {
			cancel(errRouteLost)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = s.clock.AfterFunc(routeCheckInterval, check)
		}
	}
	mu.Lock()
	timer = s.clock.AfterFunc(routeCheckInterval, check)
	mu.Unlock()
	err := s.deps.Pool.Call(rpc.WithPingBounds(rpc.WithDatacenter(cctx, srv.Datacenter), wanPingBounds), srv.Addr, method, req, resp)
	mu.Lock()
	stopped = true
	timer.Stop()
	mu.Unlock()
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errRouteLost) {
		return fmt.Errorf("rpc %s to %s: %w: %w", method, srv.Name, rpc.ErrTransport, errRouteLost)
	}
	return err
}

// wanPingBounds are the liveness bounds of calls to other datacenters,
// tighter than the pool's own (1 s, 5 s) so that a datacenter that went
// silent fails a request within 5 s: a call waiting 500 ms (100 ms on a
// session not heard from within 500 ms) pings its session, and a ping
// unanswered for 1 s closes it. The risk, a loaded server slow to pong
// failing the calls on its session, is taken for the answer in time.
var wanPingBounds = rpc.PingBounds{After: 500 * time.Millisecond, Timeout: time.Second}

// routable reports whether the router still offers srv for its
// datacenter.
func (s *Server) routable(srv wan.Server) bool {
	servers, err := s.deps.Router.ServersFor(srv.Datacenter)
	if err != nil {
		return false
	}
	for _, x := range servers {
		if x.Name == srv.Name {
			return true
		}
	}
	return false
}

// Datacenters lists the datacenters this server can route to, its own
// first, then the others nearest first.
func (s *Server) Datacenters() []string {
	if s.deps.Router == nil {
		return []string{s.cfg.Datacenter}
	}
	return s.deps.Router.Datacenters()
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/rpc"
)

// Backend answers RPCs for the HTTP API.
type Backend interface {
	RPC(ctx context.Context, method string, req, resp proto.Message) error
}

var _ Backend = (*dc.Server)(nil)

// serverBackend sends a client agent's RPCs to a server of its datacenter,
// chosen at random from the LAN pool so load spreads, and tries the next
// one on a transport error.
type serverBackend struct {
	pool *rpc.Pool
	lan  *lan.Pool
	// shared lets identical blocking queries share one call.
	shared dc.ForwardedQueries
}

func (b *serverBackend) RPC(ctx context.Context, method string, req, resp proto.Message) error {
	return b.shared.Call(ctx, method, req, resp, func(ctx context.Context, req, resp proto.Message) error {
		return b.call(ctx, method, req, resp)
	})
}

func (b *serverBackend) call(ctx context.Context, method string, req, resp proto.Message) error {
	return b.eachServer(func(addr string) error { return b.pool.Call(ctx, addr, method, req, resp) })
}

// rpcShared is RPC for a caller that only reads the answer: identical
// blocking queries share theirs (see dc.ForwardedQueries.CallShared).
func (b *serverBackend) rpcShared(ctx context.Context, method string, req proto.Message, newResp func() proto.Message) (proto.Message, *dc.Memo, error) {
	resp, _, memo, err := b.shared.CallShared(ctx, method, req, newResp, func(ctx context.Context, req, resp proto.Message) error {
		return b.call(ctx, method, req, resp)
	})
	return resp, memo, err
}

// readShared makes a read whose answer the caller does not modify: the
// answer of a blocking query is the one its identical queries share, and
// the Memo keeps their one encoding of it (nil: nobody shares it).
func (a *Agent) readShared(ctx context.Context, method string, req proto.Message, newResp func() proto.Message) (proto.Message, *dc.Memo, error) {
	switch b := a.backend.(type) {
	case *dc.Server:
		return b.RPCShared(ctx, method, req)
	case *serverBackend:
		return b.rpcShared(ctx, method, req, newResp)
	}
	resp := newResp()
	return resp, nil, a.backend.RPC(ctx, method, req, resp)
}

// openStream opens a stream call on a server of the datacenter.
func (b *serverBackend) openStream(ctx context.Context, method string, req proto.Message) (up *rpc.ClientStream, err error) {
	err = b.eachServer(func(addr string) error {
		up, err = b.pool.OpenStream(ctx, addr, method, req)
		return err
	})
	return up, err
}

// eachServer tries try on the alive servers in random order until one
// does not fail with a transport error.
func (b *serverBackend) eachServer(try func(addr string) error) error {
	var servers []lan.Server
	for _, s := range b.lan.Servers() {
		if s.Status == lan.StatusAlive {
			servers = append(servers, s)
		}
	}
	if len(servers) == 0 {
		return fmt.Errorf("%w: no known servers", rpc.ErrNoLeader)
	}
	rand.Shuffle(len(servers), func(i, j int) { servers[i], servers[j] = servers[j], servers[i] })
	var err error
	for _, s := range servers {
		err = try(s.Addr)
		if !errors.Is(err, rpc.ErrTransport) {
			return err
		}
	}
	return err
}

// lanMembership shows the LAN pool to the datacenter server.
type lanMembership struct {
	pool *lan.Pool
}

func (m lanMembership) Members() []dc.Member {
	members := m.pool.Members()
	out := make([]dc.Member, 0, len(members))
	for _, mem := range members {
		d := dc.Member{
			Name:       mem.Name,
			ID:         mem.Tags[lan.TagID],
			Datacenter: mem.Tags[lan.TagDatacenter],
			Status:     dc.MemberStatus(mem.StatusCode),
			Build:      mem.Tags[lan.TagBuild],
		}
		if mem.Addr != nil {
			d.Address = mem.Addr.String()
		}
		if s, ok := lan.ServerFromMember(mem); ok {
			d.Server = true
			d.Addr = s.Addr
			d.Expect = s.BootstrapExpect
			d.Bootstrap = s.Bootstrap
		}
		out = append(out, d)
	}
	return out
}

// Subscribe turns pool events into coalesced wake-ups. The forwarding
// goroutine belongs to the subscription and ends with cancel.
func (m lanMembership) Subscribe() (<-chan struct{}, func()) {
	events, cancelEvents := m.pool.Subscribe()
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case _, ok := <-events:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	var stopped bool
	return out, func() {
		if stopped {
			return
		}
		stopped = true
		close(done)
		cancelEvents()
		<-finished
	}
}

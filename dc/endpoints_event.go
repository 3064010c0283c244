package dc

import (
	"context"
	"errors"
	"fmt"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// UserEvents fires user events into the server's LAN pool, to every agent
// of its datacenter.
type UserEvents interface {
	FireUserEvent(e *pb.UserEvent) error
}

// eventFire fires a user event in the datacenter the request names: a
// request for another datacenter goes to one of its servers (Consul's
// Internal.EventFire), which gossips it into its own LAN pool. It is
// retried on another server of that datacenter only when it surely did
// not leave, so an event is not fired twice.
func (s *Server) eventFire(ctx context.Context, req *pb.EventFireRequest, resp *pb.EventFireResponse) error {
	if req.Event == nil || req.Event.Name == "" {
		return fmt.Errorf("%w: Missing name", rpc.ErrBadRequest)
	}
	if done, err := s.forwardDC(ctx, MethodEventFire, req.Dc, false, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Token, acl.ResourceEvent, acl.AccessWrite, req.Event.Name); err != nil {
		return err
	}
	if s.deps.Events == nil {
		return errors.New("this server cannot fire user events")
	}
	return s.deps.Events.FireUserEvent(req.Event)
}

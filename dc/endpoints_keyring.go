package dc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// MethodKeyringOperation runs a gossip keyring operation on one pool:
// the WAN pool, or a datacenter's LAN pool (forwarded to a server of
// that datacenter), as Consul's Internal.KeyringOperation.
const MethodKeyringOperation = "Internal.KeyringOperation"

// Keyring operations.
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// Keyring runs keyring operations on the server's own gossip pools. A
// request the operator got wrong (a malformed key, using a key not
// installed, removing the primary key, no encryption) comes back as an
// error wrapping rpc.ErrBadRequest; members that did not answer are in
// the response (incomplete), not an error.
type Keyring interface {
	KeyringOperation(op, key string, wan bool) (*pb.KeyringResponse, error)
}

func (s *Server) keyringOperation(ctx context.Context, req *pb.KeyringRequest, resp *pb.KeyringResponse) error {
	access := acl.AccessWrite
	switch req.Op {
	case KeyringList:
		access = acl.AccessRead
	case KeyringInstall, KeyringUse, KeyringRemove:
		if req.Key == "" {
			return fmt.Errorf("%w: the request must name a key", rpc.ErrBadRequest)
		}
	default:
		return fmt.Errorf("%w: unknown keyring operation %q", rpc.ErrBadRequest, req.Op)
	}
	if !req.Wan {
		if done, err := s.forwardDC(ctx, MethodKeyringOperation, req.Dc, true, req, resp); done {
			return err
		}
	}
	if err := s.need(ctx, req.Token, acl.ResourceKeyring, access, ""); err != nil {
		return err
	}
	if s.deps.Keyring == nil {
		return errors.New("this server has no gossip keyring")
	}
	out, err := s.deps.Keyring.KeyringOperation(req.Op, req.Key, req.Wan)
	if err != nil {
		return err
	}
	proto.Merge(resp, out)
	resp.Datacenter, resp.Wan = s.cfg.Datacenter, req.Wan
	return nil
}

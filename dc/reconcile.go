package dc

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/store"
)

const (
	serfCheckName      = "Serf Health Status"
	serfCheckAlive     = "Agent alive and reachable"
	serfCheckFailed    = "Agent not live or unreachable"
	serverServiceName  = "consul"
	serverServiceIDTag = "consul"
)

// reconcileCatalog makes every LAN member a catalog node with a serfHealth
// check (alive → passing, failed → critical), deregisters members that
// left, and deregisters catalog nodes that gossip no longer knows (reaped)
// — but only nodes that carry a serfHealth check: nodes registered through
// the catalog API for external services are not the pool's to remove.
func (s *Server) reconcileCatalog() {
	members := s.deps.Membership.Members()
	known := make(map[string]bool, len(members))
	for _, m := range members {
		if m.Datacenter != "" && m.Datacenter != s.cfg.Datacenter {
			continue
		}
		known[strings.ToLower(m.Name)] = true
		var err error
		switch m.Status {
		case StatusAlive:
			err = s.ensureMemberHealth(m, store.HealthPassing, serfCheckAlive)
		case StatusFailed:
			err = s.ensureMemberHealth(m, store.HealthCritical, serfCheckFailed)
		case StatusLeft:
			err = s.deregisterNode(m.Name)
		}
		if err != nil {
			s.log.Warn("reconcile member into catalog", "member", m.Name, "error", err)
		}
	}
	_, checks, err := s.store.ChecksInState(nil, store.HealthAny)
	if err != nil {
		return
	}
	for _, c := range checks {
		if c.CheckId == store.SerfCheckID && !known[strings.ToLower(c.Node)] {
			s.log.Info("deregistering node that left the pool", "node", c.Node)
			if err := s.deregisterNode(c.Node); err != nil {
				s.log.Warn("deregister reaped node", "node", c.Node, "error", err)
			}
		}
	}
}

// ensureMemberHealth registers a member's node, its serfHealth check with
// the given status, and on servers the "consul" service, unless the
// catalog already says so.
func (s *Server) ensureMemberHealth(m Member, status, output string) error {
	_, node, err := s.store.Node(nil, m.Name)
	if err != nil {
		return err
	}
	var rpcPort int
	if m.Server {
		if _, p, err := net.SplitHostPort(m.Addr); err == nil {
			rpcPort, _ = strconv.Atoi(p)
		}
	}
	if node != nil && node.Address == m.Address {
		if ok, err := s.memberUpToDate(m, status, rpcPort); err != nil || ok {
			return err
		}
	}
	req := &pb.CatalogRegister{
		Node: &pb.Node{Id: m.ID, Node: m.Name, Address: m.Address, Datacenter: s.cfg.Datacenter},
		Checks: []*pb.HealthCheck{{
			Node: m.Name, CheckId: store.SerfCheckID, Name: serfCheckName,
			Status: status, Output: output, Type: "",
		}},
	}
	if node != nil {
		// Keep what the node's own agent registered (meta, tagged
		// addresses); only the address comes from gossip.
		req.Node.Meta, req.Node.TaggedAddresses = node.Meta, node.TaggedAddresses
		if req.Node.Id == "" {
			req.Node.Id = node.Id
		}
	}
	if m.Server && rpcPort > 0 {
		req.Service = &pb.Service{Id: serverServiceIDTag, Service: serverServiceName, Port: int32(rpcPort)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RPCHoldTimeout)
	defer cancel()
	_, err = s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_Register{Register: req}})
	return err
}

// memberUpToDate reports whether the catalog already has the member's
// serfHealth status (and, on servers, its consul service).
func (s *Server) memberUpToDate(m Member, status string, rpcPort int) (bool, error) {
	_, checks, err := s.store.NodeChecks(nil, m.Name)
	if err != nil {
		return false, err
	}
	healthy := false
	for _, c := range checks {
		if c.CheckId == store.SerfCheckID && c.Status == status {
			healthy = true
		}
	}
	if !healthy {
		return false, nil
	}
	if !m.Server || rpcPort == 0 {
		return true, nil
	}
	_, _, services, err := s.store.NodeServices(nil, m.Name)
	if err != nil {
		return false, err
	}
	for _, svc := range services {
		if svc.Id == serverServiceIDTag && int(svc.Port) == rpcPort {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) deregisterNode(name string) error {
	_, node, err := s.store.Node(nil, name)
	if err != nil || node == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RPCHoldTimeout)
	defer cancel()
	_, err = s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_Deregister{Deregister: &pb.CatalogDeregister{Node: node.Node}}})
	return err
}

package health

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// Catalog is what anti-entropy needs of the catalog (implemented by the
// agent over RPC to its servers).
type Catalog interface {
	// NodeServices returns the node and its services; resp.Node is nil when
	// the node is not in the catalog.
	NodeServices(ctx context.Context, node string) (*pb.NodeServicesResponse, error)
	// NodeChecks returns the checks of the node.
	NodeChecks(ctx context.Context, node string) ([]*pb.HealthCheck, error)
	// Register registers the node and optionally a service and checks.
	Register(ctx context.Context, req *pb.RegisterRequest) error
	// Deregister removes a service (with its checks) or a check of the
	// node. Removing something already absent must succeed.
	Deregister(ctx context.Context, req *pb.DeregisterRequest) error
}

// ErrBlockedByACLs is a write the catalog refused for the token it was
// made with (Catalog implementations wrap their refusal in it).
// Anti-entropy logs it as a warning and treats the entry as synced until
// the next full sync, instead of retrying it at once (as Consul).
var ErrBlockedByACLs = errors.New("blocked by ACLs")

// Entries of the catalog that the agent never deregisters: the server
// leader owns them.
const (
	// SerfHealthCheckID is the node check the leader keeps from LAN
	// membership.
	SerfHealthCheckID = "serfHealth"
	// ConsulServiceID is the service the leader registers for servers.
	ConsulServiceID = "consul"
)

type opKind int

const (
	opRegister opKind = iota
	opDeregisterService
	opDeregisterCheck
)

// syncOp is one catalog write of a partial sync, with the generations of
// the entries it carries: a success marks exactly those in sync.
type syncOp struct {
	kind     opKind
	reg      *pb.RegisterRequest
	dereg    *pb.DeregisterRequest
	services map[string]uint64
	checks   map[string]uint64
}

// SyncChanges pushes the out-of-sync entries to cat: deregisters removed
// services and checks, registers changed ones (a service together with its
// changed checks, node checks one register per call). It stops at the
// first error, leaving the rest out of sync.
func (s *State) SyncChanges(ctx context.Context, cat Catalog) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.syncChangesLocked(ctx, cat)
}

func (s *State) syncChangesLocked(ctx context.Context, cat Catalog) error {
	for _, op := range s.planChanges() {
		var err error
		switch op.kind {
		case opRegister:
			err = cat.Register(ctx, op.reg)
		default:
			err = cat.Deregister(ctx, op.dereg)
		}
		if errors.Is(err, ErrBlockedByACLs) {
			s.logger.Warn(op.describe()+" blocked by ACLs", "error", err)
			s.commit(op)
			continue
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", op.describe(), err)
		}
		s.commit(op)
		s.logger.Debug("synced", "op", op.describe())
	}
	return nil
}

func (op *syncOp) describe() string {
	switch op.kind {
	case opDeregisterService:
		return "deregister service " + op.dereg.ServiceId
	case opDeregisterCheck:
		return "deregister check " + op.dereg.CheckId
	}
	if op.reg.Service != nil {
		return fmt.Sprintf("register service %s (%d checks)", op.reg.Service.Id, len(op.reg.Checks))
	}
	if len(op.reg.Checks) > 0 {
		return fmt.Sprintf("register %d node checks", len(op.reg.Checks))
	}
	return "register node"
}

func (s *State) nodeProto() *pb.Node {
	return &pb.Node{
		Id:              s.cfg.NodeID,
		Node:            s.cfg.NodeName,
		Address:         s.cfg.Address,
		Datacenter:      s.cfg.Datacenter,
		TaggedAddresses: maps.Clone(s.cfg.TaggedAddresses),
		Meta:            maps.Clone(s.cfg.NodeMeta),
	}
}

// planChanges lists the writes that bring the catalog to the local state.
func (s *State) planChanges() []*syncOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ops []*syncOp
	write := &pb.WriteOptions{Dc: s.cfg.Datacenter}

	deletedServices := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(s.services)) {
		if ss := s.services[id]; ss.deleted {
			deletedServices[id] = true
			ops = append(ops, &syncOp{
				kind:     opDeregisterService,
				dereg:    &pb.DeregisterRequest{Write: write, Node: s.cfg.NodeName, ServiceId: id},
				services: map[string]uint64{id: ss.gen},
			})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.checks)) {
		cs := s.checks[id]
		if cs.deleted && !deletedServices[cs.chk.GetServiceId()] {
			ops = append(ops, &syncOp{
				kind:   opDeregisterCheck,
				dereg:  &pb.DeregisterRequest{Write: write, Node: s.cfg.NodeName, CheckId: id},
				checks: map[string]uint64{id: cs.gen},
			})
		}
	}

	// Registers: one per service that is out of sync or has out-of-sync
	// checks, carrying those checks; one for out-of-sync node checks.
	dirtyChecks := map[string][]string{} // service ID ("" = node) -> check IDs
	for _, id := range slices.Sorted(maps.Keys(s.checks)) {
		cs := s.checks[id]
		if cs.deleted || cs.inSync {
			continue
		}
		sid := cs.chk.GetServiceId()
		if ss := s.services[sid]; sid != "" && (ss == nil || ss.deleted) {
			continue
		}
		dirtyChecks[sid] = append(dirtyChecks[sid], id)
	}
	var regServices []string
	for id, ss := range s.services {
		if !ss.deleted && (!ss.inSync || len(dirtyChecks[id]) > 0) {
			regServices = append(regServices, id)
		}
	}
	slices.Sort(regServices)
	if len(dirtyChecks[""]) > 0 {
		regServices = append(regServices, "")
	}
	skipNode := s.nodeInfoInSync
	for _, sid := range regServices {
		op := &syncOp{
			kind:     opRegister,
			reg:      &pb.RegisterRequest{Write: write, Node: s.nodeProto(), SkipNodeUpdate: skipNode},
			services: map[string]uint64{},
			checks:   map[string]uint64{},
		}
		if sid != "" {
			ss := s.services[sid]
			op.reg.Service = proto.Clone(ss.svc).(*pb.Service)
			op.services[sid] = ss.gen
		}
		for _, cid := range dirtyChecks[sid] {
			cs := s.checks[cid]
			if cs.deferTimer != nil { // the output rides along now
				cs.deferTimer.Stop()
				cs.deferTimer = nil
			}
			op.reg.Checks = append(op.reg.Checks, proto.Clone(cs.chk).(*pb.HealthCheck))
			op.checks[cid] = cs.gen
		}
		ops = append(ops, op)
		skipNode = true
	}
	if !s.nodeInfoInSync && len(regServices) == 0 {
		ops = append(ops, &syncOp{kind: opRegister, reg: &pb.RegisterRequest{Write: write, Node: s.nodeProto()}})
	}
	return ops
}

// commit records a successful write: entries unchanged since the plan are
// in sync (or, for deletions, forgotten).
func (s *State) commit(op *syncOp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op.kind {
	case opRegister:
		s.nodeInfoInSync = true
		for id, gen := range op.services {
			if ss := s.services[id]; ss != nil && ss.gen == gen {
				ss.inSync = true
			}
		}
		for id, gen := range op.checks {
			if cs := s.checks[id]; cs != nil && cs.gen == gen {
				cs.inSync = true
			}
		}
	case opDeregisterService:
		for id, gen := range op.services {
			if ss := s.services[id]; ss != nil && ss.gen == gen {
				delete(s.services, id)
			}
			// The catalog dropped the service's checks with it.
			for cid, cs := range s.checks {
				if cs.deleted && cs.chk.GetServiceId() == id {
					delete(s.checks, cid)
				}
			}
		}
	case opDeregisterCheck:
		for id, gen := range op.checks {
			if cs := s.checks[id]; cs != nil && cs.gen == gen {
				delete(s.checks, id)
			}
		}
	}
}

// SyncFull reads this node's services and checks from cat, marks every
// difference (missing or changed local entries, catalog entries the agent
// does not have, node address, tagged addresses and meta) and then pushes
// them as SyncChanges does. Catalog services with EnableTagOverride keep
// the catalog's tags. The leader's serfHealth check and consul service are
// left alone.
func (s *State) SyncFull(ctx context.Context, cat Catalog) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	nodeResp, err := cat.NodeServices(ctx, s.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("read node services: %w", err)
	}
	remoteChecks, err := cat.NodeChecks(ctx, s.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("read node checks: %w", err)
	}
	s.compare(nodeResp, remoteChecks)
	return s.syncChangesLocked(ctx, cat)
}

// compare marks the local entries against the catalog's.
func (s *State) compare(nodeResp *pb.NodeServicesResponse, remoteChecks []*pb.HealthCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.nodeSame(nodeResp.GetNode()) {
		s.nodeInfoInSync = false
	}

	remoteServices := map[string]*pb.Service{}
	for _, rs := range nodeResp.GetServices() {
		remoteServices[rs.GetId()] = rs
	}
	for id, ss := range s.services {
		if remoteServices[id] == nil && !ss.deleted {
			ss.inSync = false
		}
	}
	for id, rs := range remoteServices {
		ss := s.services[id]
		switch {
		case ss == nil:
			if id != ConsulServiceID {
				s.services[id] = &serviceState{svc: &pb.Service{Id: id}, deleted: true, gen: s.nextGen()}
			}
		case ss.deleted:
		default:
			if ss.svc.GetEnableTagOverride() && !slices.Equal(ss.svc.GetTags(), rs.GetTags()) {
				svc := proto.Clone(ss.svc).(*pb.Service)
				svc.Tags = slices.Clone(rs.GetTags())
				ss.svc = svc
			}
			ss.inSync = sameService(ss.svc, rs)
		}
	}

	remote := map[string]*pb.HealthCheck{}
	for _, rc := range remoteChecks {
		remote[rc.GetCheckId()] = rc
	}
	for id, cs := range s.checks {
		if remote[id] == nil && !cs.deleted {
			cs.inSync = false
		}
	}
	for id, rc := range remote {
		cs := s.checks[id]
		switch {
		case cs == nil:
			if id != SerfHealthCheckID {
				s.checks[id] = &checkState{
					chk:     &pb.HealthCheck{CheckId: id, ServiceId: rc.GetServiceId()},
					deleted: true,
					gen:     s.nextGen(),
				}
			}
		case cs.deleted:
		default:
			// A pending deferred output sync will mark the check itself.
			cs.inSync = sameCheck(cs.chk, rc, cs.deferTimer != nil)
		}
	}
	s.logger.Debug("full sync compared", "services", len(remoteServices), "checks", len(remote))
}

func (s *State) nodeSame(n *pb.Node) bool {
	return n != nil && n.GetId() == s.cfg.NodeID && n.GetAddress() == s.cfg.Address &&
		maps.Equal(n.GetTaggedAddresses(), s.cfg.TaggedAddresses) && maps.Equal(n.GetMeta(), s.cfg.NodeMeta)
}

// sameService compares what the agent controls of a service. Unset
// Weights count as Consul's default {1, 1}.
func sameService(local, remote *pb.Service) bool {
	a := proto.Clone(local).(*pb.Service)
	b := proto.Clone(remote).(*pb.Service)
	for _, x := range []*pb.Service{a, b} {
		x.Node, x.CreateIndex, x.ModifyIndex = "", 0, 0
		if x.Weights == nil {
			x.Weights = &pb.Weights{Passing: 1, Warning: 1}
		}
	}
	return proto.Equal(a, b)
}

// sameCheck compares what the agent controls of a check. ServiceTags are
// left out: the catalog derives them from the service, compared on its own.
// An unset Definition equals an empty one.
func sameCheck(local, remote *pb.HealthCheck, ignoreOutput bool) bool {
	a := proto.Clone(local).(*pb.HealthCheck)
	b := proto.Clone(remote).(*pb.HealthCheck)
	for _, x := range []*pb.HealthCheck{a, b} {
		x.Node, x.CreateIndex, x.ModifyIndex, x.ServiceTags = "", 0, 0, nil
		if x.Definition == nil {
			x.Definition = &pb.CheckDefinition{}
		}
		if ignoreOutput {
			x.Output = ""
		}
	}
	return proto.Equal(a, b)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/pb"
)

// catalogClient is the catalog as anti-entropy sees it: the agent's own
// backend (the local server in-process, or a LAN server over RPC).
type catalogClient struct {
	a *Agent
}

// With ACLs on, it reads with the agent token, writes a service (and its
// checks) with the token the service was registered with and the node
// (and node checks) with the agent token; a server's refusal is
// health.ErrBlockedByACLs, which anti-entropy logs and does not retry at
// once.

func (c catalogClient) NodeServices(ctx context.Context, node string) (*pb.NodeServicesResponse, error) {
	var resp pb.NodeServicesResponse
	req := &pb.NodeServicesRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{Token: c.a.tokens.agent()}}, Node: node}
	return &resp, c.a.backend.RPC(ctx, dc.MethodCatalogNodeServices, req, &resp)
}

func (c catalogClient) NodeChecks(ctx context.Context, node string) ([]*pb.HealthCheck, error) {
	var resp pb.ChecksResponse
	req := &pb.ChecksRequest{Q: &pb.CatalogQuery{Query: &pb.QueryOptions{Token: c.a.tokens.agent()}}, Node: node}
	if err := c.a.backend.RPC(ctx, dc.MethodHealthChecks, req, &resp); err != nil {
		return nil, err
	}
	return resp.Checks, nil
}

func (c catalogClient) Register(ctx context.Context, req *pb.RegisterRequest) error {
	req = proto.Clone(req).(*pb.RegisterRequest)
	if req.Write == nil {
		req.Write = &pb.WriteOptions{}
	}
	agentToken := c.a.tokens.agent()
	req.Write.Token = agentToken
	if svc := req.Service; svc != nil {
		req.Write.Token = c.a.tokens.service(svc.Id)
		if !req.SkipNodeUpdate && req.Write.Token != agentToken {
			// The node's information is the agent token's business; when
			// that is refused the service still goes (the leader keeps
			// the node itself in the catalog), as in Consul.
			node := &pb.RegisterRequest{Write: &pb.WriteOptions{Dc: req.Write.Dc, Token: agentToken}, Node: req.Node}
			if err := c.register(ctx, node); errors.Is(err, health.ErrBlockedByACLs) {
				c.a.log.Warn("Node info update blocked by ACLs", "error", err)
			} else if err != nil {
				return err
			}
			req.SkipNodeUpdate = true
		}
	}
	return c.register(ctx, req)
}

func (c catalogClient) register(ctx context.Context, req *pb.RegisterRequest) error {
	return aclBlocked(c.a.backend.RPC(ctx, dc.MethodCatalogRegister, req, &pb.WriteResponse{}))
}

func (c catalogClient) Deregister(ctx context.Context, req *pb.DeregisterRequest) error {
	req = proto.Clone(req).(*pb.DeregisterRequest)
	if req.Write == nil {
		req.Write = &pb.WriteOptions{}
	}
	req.Write.Token = c.a.tokens.agent()
	if req.ServiceId != "" {
		req.Write.Token = c.a.tokens.service(req.ServiceId)
	} else if req.CheckId != "" {
		if chk := c.a.local.State().Check(req.CheckId); chk != nil && chk.ServiceId != "" {
			req.Write.Token = c.a.tokens.service(chk.ServiceId)
		}
	}
	err := c.a.backend.RPC(ctx, dc.MethodCatalogDeregister, req, &pb.WriteResponse{})
	if err == nil && req.ServiceId != "" && c.a.local.State().Service(req.ServiceId) == nil {
		c.a.tokens.setService(req.ServiceId, "")
	}
	return aclBlocked(err)
}

// aclBlocked marks a server's ACL refusal for anti-entropy.
func aclBlocked(err error) error {
	if blockedByACLs(err) {
		return fmt.Errorf("%w: %w", health.ErrBlockedByACLs, err)
	}
	return err
}

// startLocal starts the agent's health subsystem: local services and
// checks, their runners, and anti-entropy with the catalog.
func (a *Agent) startLocal() error {
	hc := health.DefaultConfig()
	hc.NodeName, hc.NodeID, hc.Datacenter = a.cfg.NodeName, a.cfg.NodeID, a.cfg.Datacenter
	hc.Address = a.cfg.AdvertiseAddr
	hc.TaggedAddresses = map[string]string{
		"lan": a.cfg.AdvertiseAddr, "lan_ipv4": a.cfg.AdvertiseAddr,
		"wan": a.cfg.AdvertiseAddrWAN, "wan_ipv4": a.cfg.AdvertiseAddrWAN,
	}
	if hc.TaggedAddresses["wan"] == "" {
		hc.TaggedAddresses["wan"], hc.TaggedAddresses["wan_ipv4"] = a.cfg.AdvertiseAddr, a.cfg.AdvertiseAddr
	}
	hc.NodeMeta = a.cfg.NodeMeta
	if a.cfg.AEInterval > 0 {
		hc.AEInterval = a.cfg.AEInterval
	}
	hc.CheckUpdateInterval = a.cfg.CheckUpdateInterval
	hc.EnableScriptChecks, hc.EnableLocalScriptChecks = a.cfg.EnableScriptChecks, a.cfg.EnableLocalScriptChecks
	hc.Logger = a.base.With("node", a.cfg.NodeName, "component", "health")
	if a.tuneHealth != nil {
		a.tuneHealth(&hc)
	}
	local, err := health.New(hc, health.Deps{Catalog: catalogClient{a: a}, ClusterSize: a.NumLANMembers, Reaped: func(ids []string) {
		for _, id := range ids {
			if err := a.persistService(id); err != nil {
				a.log.Error("reaped service's saved registration not removed", "service", id, "error", err)
			}
		}
	}})
	if err != nil {
		return err
	}
	a.local = local
	if err := a.loadConfigServices(a.cfg); err != nil {
		return err
	}
	if err := a.restoreLocal(); err != nil {
		return err
	}
	if err := local.Start(); err != nil {
		return err
	}
	// A server joining the pool is a good moment for a full sync.
	a.onLANEvents(func(ev lan.Event) {
		if ev.Kind == lan.EventJoin && hasServer(ev.Members) {
			local.Syncer().TriggerFullSync()
		}
	})
	return nil
}

func hasServer(members []lan.Member) bool {
	for _, m := range members {
		if _, ok := lan.ServerFromMember(m); ok {
			return true
		}
	}
	return false
}

// loadConfigServices registers the services and checks of the config
// files (source local: script checks need enable_local_script_checks).
func (a *Agent) loadConfigServices(cfg *config.Config) error {
	for _, sd := range cfg.Services {
		svc := serviceFromConfig(sd)
		defs := make([]health.CheckDefinition, 0, len(sd.Checks))
		for _, cd := range sd.Checks {
			defs = append(defs, checkFromConfig(cd))
		}
		if err := a.local.AddService(svc, defs, health.SourceLocal, false); err != nil {
			return fmt.Errorf("service %q from config: %w", sd.Name, err)
		}
		a.configMu.Lock()
		a.configServices[svc.Id] = true
		for cid := range a.local.State().ServiceChecks(svc.Id) {
			if !strings.HasPrefix(cid, health.ServiceMaintenancePrefix) {
				a.configChecks[cid] = true
			}
		}
		a.configMu.Unlock()
	}
	for _, cd := range cfg.Checks {
		def := checkFromConfig(cd)
		if err := a.local.AddCheck(def, health.SourceLocal); err != nil {
			return fmt.Errorf("check %q from config: %w", cd.Name, err)
		}
		id := def.ID
		if id == "" {
			id = def.Name
		}
		a.configMu.Lock()
		a.configChecks[id] = true
		a.configMu.Unlock()
	}
	return nil
}

func serviceFromConfig(sd config.ServiceDefinition) *pb.Service {
	svc := &pb.Service{
		Id: sd.ID, Service: sd.Name, Tags: sd.Tags, Address: sd.Address, Port: int32(sd.Port),
		Meta: sd.Meta, EnableTagOverride: sd.EnableTagOverride,
	}
	if svc.Id == "" {
		svc.Id = svc.Service
	}
	if sd.Weights != nil {
		svc.Weights = &pb.Weights{Passing: int32(sd.Weights.Passing), Warning: int32(sd.Weights.Warning)}
	}
	return svc
}

func checkFromConfig(cd config.CheckDefinition) health.CheckDefinition {
	return health.CheckDefinition{
		ID: cd.ID, Name: cd.Name, Notes: cd.Notes, ServiceID: cd.ServiceID, Status: cd.Status,
		ScriptArgs: cd.Args, HTTP: cd.HTTP, Header: cd.Header, Method: cd.Method, Body: cd.Body,
		TCP: cd.TCP, TCPUseTLS: cd.TCPUseTLS, UDP: cd.UDP, DisableRedirects: cd.DisableRedirects,
		GRPC: cd.GRPC, GRPCUseTLS: cd.GRPCUseTLS, AliasService: cd.AliasService, AliasNode: cd.AliasNode,
		H2PING: cd.H2PING, H2PingUseTLS: cd.H2PingUseTLS == nil || *cd.H2PingUseTLS,
		TLSServerName: cd.TLSServerName, TLSSkipVerify: cd.TLSSkipVerify,
		Interval: cd.Interval, Timeout: cd.Timeout, TTL: cd.TTL,
		SuccessBeforePassing: cd.SuccessBeforePassing, FailuresBeforeWarning: cd.FailuresBeforeWarning,
		FailuresBeforeCritical: cd.FailuresBeforeCritical, DeregisterCriticalServiceAfter: cd.DeregisterCriticalServiceAfter,
	}
}

// reloadConfigServices applies a reloaded configuration's services and
// checks: those from the old files are replaced by the new ones; those
// registered through the API are left alone.
func (a *Agent) reloadConfigServices(cfg *config.Config) error {
	a.configMu.Lock()
	services, checks := a.configServices, a.configChecks
	a.configServices, a.configChecks = map[string]bool{}, map[string]bool{}
	a.configMu.Unlock()
	for id := range services {
		if err := a.local.RemoveService(id); err != nil {
			a.log.Debug("reload: remove service", "id", id, "error", err)
		}
	}
	for id := range checks {
		if err := a.local.RemoveCheck(id); err != nil {
			a.log.Debug("reload: remove check", "id", id, "error", err)
		}
	}
	return a.loadConfigServices(cfg)
}

// localServices are the services registered on this agent.
func (a *Agent) localServices() []*pb.Service {
	if a.local == nil {
		return nil
	}
	services := a.local.State().Services()
	out := make([]*pb.Service, 0, len(services))
	for _, s := range services {
		out = append(out, s)
	}
	return out
}

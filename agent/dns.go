package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/agent/config"
	dnssrv "github.com/meridian-io/meridian/agent/dns"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// startDNS serves DNS over UDP and TCP on every DNS address
// (addresses.dns, or each client address).
func (a *Agent) startDNS() error {
	srv, err := dnssrv.New(dnsConfig(a.cfg), dnsBackend{a: a}, a.log)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	addrs := a.cfg.DNSAddrs
	if len(addrs) == 0 {
		addrs = []string{a.cfg.ClientAddr}
	}
	for _, ip := range addrs {
		if err := srv.Start(net.JoinHostPort(ip, strconv.Itoa(a.cfg.Ports.DNS))); err != nil {
			srv.Shutdown()
			return fmt.Errorf("agent: dns port: %w", err)
		}
	}
	a.dnsSrv = srv
	return nil
}

// DNSAddr is the address DNS is served on (UDP and TCP), empty when off.
func (a *Agent) DNSAddr() string {
	if a.dnsSrv == nil {
		return ""
	}
	return a.dnsSrv.Addr()
}

// dnsConfig derives the DNS server's configuration from the agent's.
func dnsConfig(c *config.Config) dnssrv.Config {
	d := dnssrv.DefaultConfig()
	d.Datacenter = c.Datacenter
	d.Domain, d.AltDomain = c.Domain, c.AltDomain
	d.Recursors = c.Recursors
	n := c.DNS
	d.AllowStale, d.MaxStale = n.AllowStale, n.MaxStale
	d.NodeTTL, d.ServiceTTL = n.NodeTTL, n.ServiceTTL
	d.OnlyPassing, d.EnableTruncate = n.OnlyPassing, n.EnableTruncate
	d.UDPAnswerLimit, d.ARecordLimit = n.UDPAnswerLimit, n.ARecordLimit
	d.DisableCompression, d.NodeMetaTXT = n.DisableCompression, n.EnableAdditionalNodeMetaTXT
	d.RecursorStrategy, d.RecursorTimeout = n.RecursorStrategy, n.RecursorTimeout
	d.UseCache, d.CacheMaxAge = n.UseCache, n.CacheMaxAge
	d.SOA = dnssrv.SOAConfig{Refresh: n.SOA.Refresh, Retry: n.SOA.Retry, Expire: n.SOA.Expire, MinTTL: n.SOA.MinTTL}
	return d
}

// dnsBackend reads the catalog for the DNS server through the agent's
// RPC backend: in-process on a server, a server of the LAN pool on a
// client. Another datacenter is reached the way the HTTP API reaches it.
type dnsBackend struct{ a *Agent }

var (
	_ dnssrv.Backend = dnsBackend{}
	_ dnssrv.Watcher = dnsBackend{}
)

func (b dnsBackend) query(dcName string, stale bool) *pb.CatalogQuery {
	q := &pb.QueryOptions{Dc: dcName, Token: b.a.tokens.userDefault()}
	if stale {
		q.Consistency = pb.Consistency_CONSISTENCY_STALE
	}
	return &pb.CatalogQuery{Query: q}
}

// dnsError gives the DNS server the errors it answers NXDOMAIN for.
func dnsError(err error) error {
	if errors.Is(err, rpc.ErrNoPathToDC) {
		return fmt.Errorf("%w: %w", dnssrv.ErrNoPathToDC, err)
	}
	return err
}

func dnsMeta(m *pb.QueryMeta) dnssrv.Meta {
	return dnssrv.Meta{Index: m.GetIndex(), LastContact: time.Duration(m.GetLastContactNanos()), KnownLeader: m.GetKnownLeader()}
}

func (b dnsBackend) ServiceNodes(ctx context.Context, dcName, service, tag string, onlyPassing, stale bool) ([]dnssrv.Instance, dnssrv.Meta, error) {
	return b.serviceNodes(ctx, b.query(dcName, stale), service, tag, onlyPassing)
}

// WatchServiceNodes is a stale blocking read of a service, for the DNS
// server's use_cache.
func (b dnsBackend) WatchServiceNodes(ctx context.Context, dcName, service, tag string, onlyPassing bool, minIndex uint64, wait time.Duration) ([]dnssrv.Instance, dnssrv.Meta, error) {
	q := b.query(dcName, true)
	q.Query.MinIndex, q.Query.MaxWaitNanos = minIndex, int64(wait)
	return b.serviceNodes(ctx, q, service, tag, onlyPassing)
}

func (b dnsBackend) serviceNodes(ctx context.Context, q *pb.CatalogQuery, service, tag string, onlyPassing bool) ([]dnssrv.Instance, dnssrv.Meta, error) {
	req := &pb.ServiceNodesRequest{Q: q, Service: service, PassingOnly: onlyPassing, WithChecks: true}
	if tag != "" {
		req.Tags = []string{tag}
	}
	var resp pb.ServiceNodesResponse
	if err := b.a.backend.RPC(ctx, dc.MethodCatalogServiceNodes, req, &resp); err != nil {
		return nil, dnssrv.Meta{}, dnsError(err)
	}
	z, err := b.authz(ctx)
	if err != nil {
		return nil, dnssrv.Meta{}, err
	}
	out := make([]dnssrv.Instance, 0, len(resp.Instances))
	for _, in := range resp.Instances {
		if instanceReadable(z, in) {
			out = append(out, dnsInstance(in))
		}
	}
	return out, dnsMeta(resp.Meta), nil
}

// DNS questions carry no token: they are answered with the agent's
// default token (acl.tokens.default), as Consul does, and what it may
// not read is left out of the answer (an unreadable node or query is
// NXDOMAIN). What each kind of lookup needs:
//
//	service (SRV/A, tags, RFC 2782)  service:read on the service, node:read on each node
//	node                             node:read
//	reverse (PTR)                    node:read
//	prepared query                   query:read on its name, then as a service lookup

// authz resolves the agent's default token for a DNS lookup.
func (b dnsBackend) authz(ctx context.Context) (*acl.Authorizer, error) {
	if !b.a.aclEnabled() || b.a.resolver == nil {
		return acl.ManageAll(), nil
	}
	id, err := b.a.resolver.resolve(ctx, b.a.tokens.userDefault())
	if err != nil {
		return nil, dnsError(err)
	}
	return id.Authorizer, nil
}

func instanceReadable(z *acl.Authorizer, in *pb.ServiceInstance) bool {
	return z.Allowed(acl.ResourceService, in.GetService().GetService(), acl.AccessRead) &&
		z.Allowed(acl.ResourceNode, in.GetNode().GetNode(), acl.AccessRead)
}

func dnsInstance(in *pb.ServiceInstance) dnssrv.Instance {
	s := in.GetService()
	out := dnssrv.Instance{
		Node: dnsNode(in.GetNode()), ID: s.GetId(), Service: s.GetService(), Tags: s.GetTags(),
		Address: s.GetAddress(), Port: int(s.GetPort()),
	}
	if w := s.GetWeights(); w != nil {
		out.Weights = &dnssrv.Weights{Passing: int(w.Passing), Warning: int(w.Warning)}
	}
	for _, c := range in.GetChecks() {
		out.Checks = append(out.Checks, dnssrv.Check{ID: c.GetCheckId(), Status: c.GetStatus()})
	}
	return out
}

func dnsNode(n *pb.Node) dnssrv.Node {
	return dnssrv.Node{
		Name: n.GetNode(), Address: n.GetAddress(), Datacenter: n.GetDatacenter(),
		TaggedAddresses: n.GetTaggedAddresses(), Meta: n.GetMeta(),
	}
}

func (b dnsBackend) Node(ctx context.Context, dcName, name string, stale bool) (*dnssrv.Node, dnssrv.Meta, error) {
	var resp pb.NodeServicesResponse
	req := &pb.NodeServicesRequest{Q: b.query(dcName, stale), Node: name}
	if err := b.a.backend.RPC(ctx, dc.MethodCatalogNodeServices, req, &resp); err != nil {
		return nil, dnssrv.Meta{}, dnsError(err)
	}
	z, err := b.authz(ctx)
	if err != nil {
		return nil, dnssrv.Meta{}, err
	}
	if resp.Node == nil || !z.Allowed(acl.ResourceNode, resp.Node.Node, acl.AccessRead) {
		return nil, dnsMeta(resp.Meta), nil
	}
	n := dnsNode(resp.Node)
	return &n, dnsMeta(resp.Meta), nil
}

func (b dnsBackend) Nodes(ctx context.Context, dcName string, stale bool) ([]dnssrv.Node, dnssrv.Meta, error) {
	var resp pb.NodesResponse
	if err := b.a.backend.RPC(ctx, dc.MethodCatalogNodes, &pb.NodesRequest{Q: b.query(dcName, stale)}, &resp); err != nil {
		return nil, dnssrv.Meta{}, dnsError(err)
	}
	z, err := b.authz(ctx)
	if err != nil {
		return nil, dnssrv.Meta{}, err
	}
	out := make([]dnssrv.Node, 0, len(resp.Nodes))
	for _, n := range resp.Nodes {
		if z.Allowed(acl.ResourceNode, n.Node, acl.AccessRead) {
			out = append(out, dnsNode(n))
		}
	}
	return out, dnsMeta(resp.Meta), nil
}

func (b dnsBackend) Services(ctx context.Context, dcName string, stale bool) ([]string, dnssrv.Meta, error) {
	var resp pb.ServicesResponse
	if err := b.a.backend.RPC(ctx, dc.MethodCatalogServices, &pb.ServicesRequest{Q: b.query(dcName, stale)}, &resp); err != nil {
		return nil, dnssrv.Meta{}, dnsError(err)
	}
	z, err := b.authz(ctx)
	if err != nil {
		return nil, dnssrv.Meta{}, err
	}
	out := make([]string, 0, len(resp.Services))
	for name := range resp.Services {
		if z.Allowed(acl.ResourceService, name, acl.AccessRead) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, dnsMeta(resp.Meta), nil
}

// PreparedQuery executes a prepared query for the DNS server, with this
// agent as the source for "_agent" and the DNS client's address for "_ip": the instances it chose, where it found
// them (after a failover), and its DNS TTL.
func (b dnsBackend) PreparedQuery(ctx context.Context, dcName, nameOrID, source string, stale bool) (dnssrv.QueryResult, dnssrv.Meta, error) {
	req := &pb.PreparedQueryExecuteRequest{Query: b.query(dcName, stale).Query, QueryIdOrName: nameOrID, SourceNode: b.a.cfg.NodeName, SourceIp: source}
	var resp pb.PreparedQueryExecuteResponse
	if err := b.a.backend.RPC(ctx, dc.MethodPreparedQueryExecute, req, &resp); err != nil {
		// A query the default token may not read does not exist for DNS.
		if errors.Is(err, rpc.ErrNotFound) || errors.Is(err, rpc.ErrPermissionDenied) {
			return dnssrv.QueryResult{}, dnssrv.Meta{}, fmt.Errorf("%w: %q", dnssrv.ErrQueryNotFound, nameOrID)
		}
		return dnssrv.QueryResult{}, dnssrv.Meta{}, dnsError(err)
	}
	z, err := b.authz(ctx)
	if err != nil {
		return dnssrv.QueryResult{}, dnssrv.Meta{}, err
	}
	if name := resp.GetQuery().GetName(); name != "" && !z.Allowed(acl.ResourceQuery, name, acl.AccessRead) {
		return dnssrv.QueryResult{}, dnssrv.Meta{}, fmt.Errorf("%w: %q", dnssrv.ErrQueryNotFound, nameOrID)
	}
	out := dnssrv.QueryResult{Service: resp.Service, Datacenter: resp.Datacenter}
	ignore := resp.GetQuery().GetService().GetIgnoreCheckIds()
	for _, in := range resp.Nodes {
		if !instanceReadable(z, in) {
			continue
		}
		inst := dnsInstance(in)
		// The query chose these instances; the checks it ignores must
		// not make the DNS server drop them again.
		inst.Checks = slices.DeleteFunc(inst.Checks, func(c dnssrv.Check) bool { return slices.Contains(ignore, c.ID) })
		out.Instances = append(out.Instances, inst)
	}
	if ttl := resp.GetDns().GetTtl(); ttl != "" {
		if d, err := time.ParseDuration(ttl); err == nil && d >= 0 {
			out.TTL = &d
		}
	}
	return out, dnsMeta(resp.Meta), nil
}

package dns

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// This file holds the lookups: each reads the catalog through the Backend
// and builds its answer with the functions of records.go.

// read runs a backend read allowing stale answers when allow_stale is on,
// and repeats it against the leader when the answer is more than
// max_stale old.
func read[T any](s *Server, fn func(stale bool) (T, Meta, error)) (T, error) {
	v, meta, err := fn(s.cfg.AllowStale)
	if err == nil && s.cfg.AllowStale && meta.LastContact > s.cfg.MaxStale {
		v, _, err = fn(false)
	}
	return v, err
}

func (s *Server) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.LookupTimeout)
}

// lookupService answers <tag>.<service>.service names with the service's
// healthy instances in random order.
func (s *Server) lookupService(ctx context.Context, r *request) (*result, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if s.cache != nil {
		q := serviceQuery{dc: r.dc, service: r.name.Service, tag: r.name.Tag, onlyPassing: s.cfg.OnlyPassing}
		if insts, meta, ok := s.cache.get(ctx, q); ok && meta.LastContact <= s.cfg.MaxStale {
			return s.serviceAnswer(r, insts, r.dc, s.cfg.serviceTTL(r.name.Service))
		}
	}
	insts, err := read(s, func(stale bool) ([]Instance, Meta, error) {
		fetch := func() ([]Instance, Meta, error) {
			return s.backend.ServiceNodes(ctx, r.dc, r.name.Service, r.name.Tag, s.cfg.OnlyPassing, stale)
		}
		if !stale {
			return fetch()
		}
		return s.flight.do(serviceKey(r.dc, r.name.Service, r.name.Tag, s.cfg.OnlyPassing), fetch)
	})
	if err != nil {
		return nil, err
	}
	return s.serviceAnswer(r, insts, r.dc, s.cfg.serviceTTL(r.name.Service))
}

// serviceAnswer builds the answer for a service's instances (from a
// service lookup or a prepared query). It leaves insts as they are: they
// may be shared with concurrent lookups.
func (s *Server) serviceAnswer(r *request, insts []Instance, dc string, ttl uint32) (*result, error) {
	insts = healthy(slices.Clone(insts), s.cfg.OnlyPassing)
	rand.Shuffle(len(insts), func(i, j int) { insts[i], insts[j] = insts[j], insts[i] })
	return s.instancesAnswer(r, insts, dc, ttl)
}

// instancesAnswer builds the answer for instances in the order given,
// already filtered (a prepared query chose them: its own health rules and
// its RTT order stand).
func (s *Server) instancesAnswer(r *request, insts []Instance, dc string, ttl uint32) (*result, error) {
	if len(insts) == 0 {
		return nil, errNameNotFound
	}
	res := &result{}
	// Build no more answers than the client may get.
	limit := udpAnswerLimit(r.msg, r.network, &s.cfg)
	switch r.q.Qtype {
	case dns.TypeSRV:
		res.answer, res.extra, res.cut = serviceSRVAnswer(r.q.Name, insts, srvOptions{
			dc: dc, domain: r.name.Domain, ttl: ttl, metaTXT: s.cfg.NodeMetaTXT, limit: limit,
		})
	default:
		aLimit := s.cfg.ARecordLimit
		if limit > 0 && (aLimit == 0 || limit < aLimit) {
			aLimit = limit
		} else {
			limit = 0 // a_record_limit cuts without TC
		}
		var more bool
		res.answer, more = serviceAddressAnswer(r.q.Name, r.q.Qtype, insts, ttl, aLimit)
		res.cut = more && limit > 0
	}
	return res, nil
}

// lookupNode answers <node>.node names: the node's address, and its
// metadata as TXT (in the answer for TXT and ANY questions, else in the
// additional section under enable_additional_node_meta_txt).
func (s *Server) lookupNode(ctx context.Context, r *request) (*result, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	node, err := read(s, func(stale bool) (*Node, Meta, error) {
		return s.backend.Node(ctx, r.dc, r.name.Node, stale)
	})
	if err != nil {
		return nil, err
	}
	if node == nil {
		return nil, errNameNotFound
	}
	return nodeAnswer(r.q, node, seconds(s.cfg.NodeTTL), s.cfg.NodeMetaTXT), nil
}

func nodeAnswer(q dns.Question, node *Node, ttl uint32, withMeta bool) *result {
	res := &result{answer: addressRecords(q.Name, q.Qtype, node.Address, ttl)}
	meta := metaTXT(q.Name, node.Meta, ttl)
	switch {
	case q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY:
		res.answer = append(res.answer, meta...)
	case withMeta:
		res.extra = meta
	}
	return res
}

// lookupAddr answers <hex>.addr names with the address they spell.
func (s *Server) lookupAddr(_ context.Context, r *request) (*result, error) {
	return &result{answer: addressRecords(r.q.Name, r.q.Qtype, r.name.IP.String(), seconds(s.cfg.NodeTTL))}, nil
}

// lookupQuery answers <query>.query names with the instances a prepared
// query chose.
func (s *Server) lookupQuery(ctx context.Context, r *request) (*result, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	qr, err := read(s, func(stale bool) (QueryResult, Meta, error) {
		return s.backend.PreparedQuery(ctx, r.dc, r.name.Query, clientIP(ctx), stale)
	})
	if err != nil {
		return nil, err
	}
	ttl := s.cfg.serviceTTL(qr.Service)
	if qr.TTL != nil {
		ttl = seconds(*qr.TTL)
	}
	dc := r.dc
	if qr.Datacenter != "" {
		dc = strings.ToLower(qr.Datacenter)
	}
	return s.instancesAnswer(r, qr.Instances, dc, ttl)
}

// lookupApex answers questions for the domain itself other than SOA and
// NS: there are no such records (NOERROR with the SOA).
func (s *Server) lookupApex(context.Context, *request) (*result, error) {
	return &result{}, nil
}

// lookupSOA answers the domain's SOA with its name servers.
func (s *Server) lookupSOA(ctx context.Context, r *request) (*result, error) {
	// The SOA stands without the servers: a failed read leaves out the NS.
	ns, glue, _ := s.nameservers(ctx, r)
	return &result{answer: []dns.RR{s.soa(r.name.Domain)}, ns: ns, extra: glue}, nil
}

// lookupNS answers the domain's NS records: up to three servers of the
// local datacenter.
func (s *Server) lookupNS(ctx context.Context, r *request) (*result, error) {
	ns, glue, err := s.nameservers(ctx, r)
	if err != nil {
		return nil, err
	}
	return &result{answer: ns, extra: glue}, nil
}

// serverService is the service every server registers.
const serverService = "consul"

func (s *Server) nameservers(ctx context.Context, r *request) (ns, glue []dns.RR, err error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	servers, err := read(s, func(stale bool) ([]Instance, Meta, error) {
		return s.backend.ServiceNodes(ctx, s.cfg.Datacenter, serverService, "", false, stale)
	})
	if err != nil {
		return nil, nil, err
	}
	servers = healthy(servers, false)
	rand.Shuffle(len(servers), func(i, j int) { servers[i], servers[j] = servers[j], servers[i] })
	ns, glue = nsRecords(r.name.Domain, s.cfg.Datacenter, servers, seconds(s.cfg.NodeTTL))
	return ns, glue, nil
}

// lookupPTR answers PTR questions for reverse names of known nodes, else
// of known service addresses; other addresses and questions go to the
// recursors.
func (s *Server) lookupPTR(ctx context.Context, r *request) (*result, error) {
	if r.name.IP == nil || (r.q.Qtype != dns.TypePTR && r.q.Qtype != dns.TypeANY) {
		return nil, errRecurse
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	dc, domain := s.cfg.Datacenter, s.cfg.Domain
	nodes, err := read(s, func(stale bool) ([]Node, Meta, error) { return s.backend.Nodes(ctx, dc, stale) })
	if err != nil {
		return nil, err
	}
	res := &result{}
	for i := range nodes {
		if sameIP(nodes[i].Address, r.name.IP) {
			target := nodeFQDN(nodes[i].Name, dc, domain)
			res.answer = append(res.answer, ptrRecord(r.q.Name, target, seconds(s.cfg.NodeTTL)))
		}
	}
	if len(res.answer) > 0 {
		return res, nil
	}
	services, err := read(s, func(stale bool) ([]string, Meta, error) { return s.backend.Services(ctx, dc, stale) })
	if err != nil {
		return nil, err
	}
	for _, svc := range services {
		insts, err := read(s, func(stale bool) ([]Instance, Meta, error) {
			return s.backend.ServiceNodes(ctx, dc, svc, "", false, stale)
		})
		if err != nil {
			return nil, err
		}
		for i := range insts {
			if insts[i].Address != "" && sameIP(insts[i].Address, r.name.IP) {
				target := strings.ToLower(svc) + ".service." + dc + "." + domain
				res.answer = append(res.answer, ptrRecord(r.q.Name, target, s.cfg.serviceTTL(svc)))
				break
			}
		}
	}
	if len(res.answer) == 0 {
		return nil, errRecurse
	}
	return res, nil
}

func sameIP(addr string, ip net.IP) bool {
	a := net.ParseIP(addr)
	return a != nil && a.Equal(ip)
}

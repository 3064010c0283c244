package dns

import (
	"context"
	"errors"
	"net"

	"github.com/miekg/dns"
)

// request is one question on its way through the chain.
type request struct {
	msg     *dns.Msg
	q       dns.Question
	network string // "udp" or "tcp"
	name    Name
	dc      string // the datacenter to read: the named one or the local one
}

// result is a lookup's records and response code.
type result struct {
	rcode             int
	answer, ns, extra []dns.RR
	// cut says the lookup left answers out for udp_answer_limit.
	cut bool
}

// lookup answers one kind of name.
type lookup func(ctx context.Context, r *request) (*result, error)

// Errors of the chain's steps.
var (
	// errNameNotFound answers NXDOMAIN with the SOA.
	errNameNotFound = errors.New("name not found")
	// errRecurse hands the question on to the recursors.
	errRecurse = errors.New("not ours: recurse")
)

// handle runs a request through the chain: parse → route by name kind →
// look up (which builds the answer) → reply → fit to size. It returns
// nil when no answer should be sent.
func (s *Server) handle(ctx context.Context, network string, req *dns.Msg) *dns.Msg {
	r, resp := s.parse(req, network)
	if resp != nil || r == nil {
		return resp
	}
	res, err := s.route(r)(ctx, r)
	if errors.Is(err, errRecurse) {
		return s.recurse(ctx, r)
	}
	resp = s.reply(r, res, err)
	fit(req, resp, network, &s.cfg, res != nil && res.cut)
	return resp
}

// parse checks the message and reads its question. A message that is not
// a query gets no answer; one without exactly one question gets FORMERR,
// another opcode NOTIMP.
func (s *Server) parse(req *dns.Msg, network string) (*request, *dns.Msg) {
	if req == nil || req.Response {
		return nil, nil
	}
	if req.Opcode != dns.OpcodeQuery {
		return nil, s.errorReply(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return nil, s.errorReply(req, dns.RcodeFormatError)
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return nil, s.errorReply(req, dns.RcodeNotImplemented)
	}
	r := &request{msg: req, q: q, network: network}
	r.name = ParseName(q.Name, q.Qtype, s.cfg.Domain, s.cfg.AltDomain)
	r.dc = r.name.DC
	if r.dc == "" {
		r.dc = s.cfg.Datacenter
	}
	return r, nil
}

// route picks the lookup for a request: SOA and NS questions anywhere in
// the domain are the domain's (as in Consul); otherwise the name's kind
// decides, and names outside the domain go to the recursors.
func (s *Server) route(r *request) lookup {
	if r.name.Kind == KindExternal {
		return recurseLookup
	}
	if r.name.Kind != KindReverse {
		switch r.q.Qtype {
		case dns.TypeSOA:
			return s.lookupSOA
		case dns.TypeNS:
			return s.lookupNS
		case dns.TypeAXFR, dns.TypeIXFR:
			return notImplemented
		}
	}
	switch r.name.Kind {
	case KindApex:
		return s.lookupApex
	case KindService:
		return s.lookupService
	case KindNode:
		return s.lookupNode
	case KindAddr:
		return s.lookupAddr
	case KindQuery:
		return s.lookupQuery
	case KindReverse:
		return s.lookupPTR
	}
	return notFound
}

func recurseLookup(context.Context, *request) (*result, error) { return nil, errRecurse }
func notFound(context.Context, *request) (*result, error)      { return nil, errNameNotFound }
func notImplemented(context.Context, *request) (*result, error) {
	return &result{rcode: dns.RcodeNotImplemented}, nil
}

// reply builds the response message from a lookup's result or error.
// NXDOMAIN and an empty NOERROR answer carry the domain's SOA.
func (s *Server) reply(r *request, res *result, err error) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(r.msg)
	resp.Compress = !s.cfg.DisableCompression
	resp.Authoritative = true
	resp.RecursionAvailable = len(s.cfg.Recursors) > 0
	rcode := rcodeOf(err)
	if err != nil && rcode == dns.RcodeServerFailure && !errors.Is(err, context.Canceled) {
		s.log.Warn("dns lookup failed", "question", r.q.Name, "type", dns.TypeToString[r.q.Qtype], "error", err)
	}
	if res != nil {
		rcode = res.rcode
		resp.Answer, resp.Ns, resp.Extra = res.answer, res.ns, res.extra
	}
	resp.Rcode = rcode
	domain := r.name.Domain
	if domain == "" {
		domain = s.cfg.Domain
	}
	if rcode == dns.RcodeNameError || (rcode == dns.RcodeSuccess && len(resp.Answer) == 0 && len(resp.Ns) == 0) {
		resp.Ns = append(resp.Ns, s.soa(domain))
	}
	if opt := r.msg.IsEdns0(); opt != nil {
		resp.SetEdns0(max(opt.UDPSize(), minUDPSize), false)
	}
	return resp
}

// rcodeOf maps a lookup error to a response code as Consul does: unknown
// names, datacenters and prepared queries are NXDOMAIN.
func rcodeOf(err error) int {
	switch {
	case err == nil:
		return dns.RcodeSuccess
	case errors.Is(err, errNameNotFound), errors.Is(err, ErrNoPathToDC), errors.Is(err, ErrQueryNotFound):
		return dns.RcodeNameError
	}
	return dns.RcodeServerFailure
}

func (s *Server) errorReply(req *dns.Msg, rcode int) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetRcode(req, rcode)
	resp.Compress = !s.cfg.DisableCompression
	return resp
}

// networkOf tells a TCP client from a UDP one.
func networkOf(addr net.Addr) string {
	if _, ok := addr.(*net.TCPAddr); ok {
		return "tcp"
	}
	return "udp"
}

package dns

import (
	"context"
	"math/rand/v2"

	"github.com/miekg/dns"
)

// recurse is the chain's last link: it forwards the question to the
// recursors, in order (or in random order under the random strategy),
// each given recursor_timeout, and passes through the first answer that
// is NOERROR or NXDOMAIN. Without recursors the answer is REFUSED; when
// every recursor fails, SERVFAIL.
func (s *Server) recurse(ctx context.Context, r *request) *dns.Msg {
	if len(s.cfg.Recursors) == 0 {
		return s.errorReply(r.msg, dns.RcodeRefused)
	}
	client := &dns.Client{Net: r.network, Timeout: s.cfg.RecursorTimeout}
	for _, i := range s.recursorOrder() {
		addr := s.cfg.Recursors[i]
		resp, err := s.exchange(ctx, client, r.msg, addr)
		switch {
		case err != nil:
			s.log.Debug("dns recursor failed", "recursor", addr, "question", r.q.Name, "error", err)
			continue
		case resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError:
			s.log.Debug("dns recursor answered an error", "recursor", addr, "question", r.q.Name,
				"rcode", dns.RcodeToString[resp.Rcode])
			continue
		}
		resp.Id = r.msg.Id
		resp.Compress = !s.cfg.DisableCompression
		return resp
	}
	s.log.Warn("dns: every recursor failed", "question", r.q.Name, "recursors", len(s.cfg.Recursors))
	resp := s.errorReply(r.msg, dns.RcodeServerFailure)
	resp.RecursionAvailable = true
	if opt := r.msg.IsEdns0(); opt != nil {
		resp.SetEdns0(max(opt.UDPSize(), minUDPSize), false)
	}
	return resp
}

func (s *Server) exchange(ctx context.Context, c *dns.Client, req *dns.Msg, addr string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RecursorTimeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, req, addr)
	return resp, err
}

// recursorOrder is the order the recursors are tried in.
func (s *Server) recursorOrder() []int {
	order := make([]int, len(s.cfg.Recursors))
	for i := range order {
		order[i] = i
	}
	if s.cfg.RecursorStrategy == StrategyRandom {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

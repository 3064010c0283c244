package dns

import (
	"github.com/miekg/dns"
)

// minUDPSize is the UDP payload every client accepts (RFC 1035).
const minUDPSize = 512

// udpAnswerLimit is how many answers a client may get: udp_answer_limit
// (at most 8) for a UDP client without EDNS0, no limit (0) otherwise.
// Lookups build no more answers than that.
func udpAnswerLimit(req *dns.Msg, network string, cfg *Config) int {
	if network == "tcp" || maxSize(req, network) != minUDPSize {
		return 0
	}
	if cfg.UDPAnswerLimit > 0 {
		return min(maxUDPAnswerLimit, cfg.UDPAnswerLimit)
	}
	return maxUDPAnswerLimit
}

// maxSize is the largest response a client of network accepts: 512 bytes
// over UDP unless its EDNS0 option offers more, 64 KiB over TCP.
func maxSize(req *dns.Msg, network string) int {
	if network == "tcp" {
		return dns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > minUDPSize {
		return int(opt.UDPSize())
	}
	return minUDPSize
}

// fit cuts resp to what the client accepts. A UDP client without EDNS0
// gets at most udp_answer_limit answers (cut with TC only under
// enable_truncate, as in Consul; cut says the lookup already stopped at
// that limit); any answer that does not fit the client's size is cut with
// TC set. The additional section keeps only records for targets still
// answered.
func fit(req, resp *dns.Msg, network string, cfg *Config, cut bool) {
	limit := maxSize(req, network)
	total := len(resp.Answer)
	extra := resp.Extra
	if cut && cfg.EnableTruncate {
		resp.Truncated = true
	}
	if n := udpAnswerLimit(req, network, cfg); n > 0 {
		if len(resp.Answer) > n {
			resp.Answer = resp.Answer[:n]
			syncExtra(resp, extra)
			if cfg.EnableTruncate {
				resp.Truncated = true
			}
		}
	}
	if resp.Len() <= limit {
		return
	}
	// Keep the longest prefix of the answers that fits: binary search on
	// the number kept, the extra section following the answers.
	answers := resp.Answer
	lo, hi := 0, len(answers) // answers[:lo] fits (or lo == 0), answers[:hi+1] does not
	for lo < hi {
		mid := (lo + hi + 1) / 2
		resp.Answer = answers[:mid]
		syncExtra(resp, extra)
		if resp.Len() <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	resp.Answer = answers[:lo]
	syncExtra(resp, extra)
	// Glue and authority are optional: drop them before failing the size.
	for len(resp.Extra) > 0 && resp.Len() > limit {
		resp.Extra = dropLastNonOPT(resp.Extra)
	}
	for len(resp.Ns) > 0 && resp.Len() > limit {
		resp.Ns = resp.Ns[:len(resp.Ns)-1]
	}
	if len(resp.Answer) < total && network != "tcp" {
		resp.Truncated = true
	}
}

// syncExtra sets resp's additional section to the records of extra that
// belong to an answer's name or target (SRV, CNAME, NS), and the EDNS0
// option.
func syncExtra(resp *dns.Msg, extra []dns.RR) {
	if len(extra) == 0 {
		return
	}
	targets := make(map[string]bool, len(resp.Answer))
	for _, rr := range resp.Answer {
		targets[dns.CanonicalName(rr.Header().Name)] = true
		switch rr := rr.(type) {
		case *dns.NS:
			targets[dns.CanonicalName(rr.Ns)] = true
		case *dns.SRV:
			targets[dns.CanonicalName(rr.Target)] = true
		case *dns.CNAME:
			targets[dns.CanonicalName(rr.Target)] = true
		}
	}
	out := make([]dns.RR, 0, len(extra))
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT || targets[dns.CanonicalName(rr.Header().Name)] {
			out = append(out, rr)
		}
	}
	resp.Extra = out
}

func dropLastNonOPT(extra []dns.RR) []dns.RR {
	for i := len(extra) - 1; i >= 0; i-- {
		if extra[i].Header().Rrtype != dns.TypeOPT {
			return append(extra[:i:i], extra[i+1:]...)
		}
	}
	return extra
}

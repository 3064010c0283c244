package dns

import (
	"encoding/hex"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// This file builds answer records from catalog data. Every function here
// is pure: the same data gives the same records.

// nodeFQDN is a node's canonical name: <node>.node.<dc>.<domain>.
func nodeFQDN(node, dc, domain string) string {
	return strings.ToLower(node) + ".node." + dc + "." + domain
}

// addrFQDN names an IP address: <hex>.addr.<dc>.<domain>.
func addrFQDN(ip net.IP, dc, domain string) string {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return hex.EncodeToString(ip) + ".addr." + dc + "." + domain
}

func header(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// addressRecords answers qtype for addr at name: an A or AAAA record when
// addr is an IP of the asked family (either for ANY), a CNAME when addr is
// a host name, nothing otherwise.
func addressRecords(name string, qtype uint16, addr string, ttl uint32) []dns.RR {
	ip := net.ParseIP(addr)
	switch {
	case ip == nil:
		if addr == "" || (qtype != dns.TypeA && qtype != dns.TypeAAAA && qtype != dns.TypeANY && qtype != dns.TypeCNAME) {
			return nil
		}
		return []dns.RR{&dns.CNAME{Hdr: header(name, dns.TypeCNAME, ttl), Target: dns.Fqdn(addr)}}
	case ip.To4() != nil:
		if qtype == dns.TypeA || qtype == dns.TypeANY {
			return []dns.RR{&dns.A{Hdr: header(name, dns.TypeA, ttl), A: ip.To4()}}
		}
	default:
		if qtype == dns.TypeAAAA || qtype == dns.TypeANY {
			return []dns.RR{&dns.AAAA{Hdr: header(name, dns.TypeAAAA, ttl), AAAA: ip}}
		}
	}
	return nil
}

// metaTXT turns node metadata into TXT records, one per key in key order:
// "key=value" (RFC 1464), or the bare value for keys starting "rfc1035-".
func metaTXT(name string, meta map[string]string, ttl uint32) []dns.RR {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]dns.RR, 0, len(keys))
	for _, k := range keys {
		txt := meta[k]
		if !strings.HasPrefix(strings.ToLower(k), "rfc1035-") {
			txt = rfc1464(k, txt)
		}
		out = append(out, &dns.TXT{Hdr: header(name, dns.TypeTXT, ttl), Txt: []string{txt}})
	}
	return out
}

// rfc1464 encodes a key and value as RFC 1464 does: '=' and '`' in the
// key and leading or trailing spaces are quoted with a backquote.
func rfc1464(key, value string) string {
	var b strings.Builder
	for i, c := range key {
		if c == '=' || c == '`' || (c == ' ' && (i == 0 || i == len(key)-1)) {
			b.WriteByte('`')
		}
		b.WriteRune(c)
	}
	return b.String() + "=" + value
}

// instanceAddress is where an instance answers: its own address or its
// node's.
func instanceAddress(in *Instance) string {
	if in.Address != "" {
		return in.Address
	}
	return in.Node.Address
}

// serviceAddressAnswer answers an A, AAAA or ANY question for a service:
// one record per distinct address, at most limit (0 for all); more says
// that instances with other addresses were left out by the limit. A
// service whose address is a host name gets a CNAME, but only when no
// instance has an IP (a name holds a CNAME or other records, never both).
func serviceAddressAnswer(name string, qtype uint16, insts []Instance, ttl uint32, limit int) (answer []dns.RR, more bool) {
	var cname dns.RR
	seen := make(map[string]bool, len(insts))
	count := 0
	for i := range insts {
		addr := instanceAddress(&insts[i])
		if seen[addr] {
			continue
		}
		seen[addr] = true
		if limit > 0 && count >= limit {
			return answer, true
		}
		rrs := addressRecords(name, qtype, addr, ttl)
		if len(rrs) == 0 {
			continue
		}
		if rrs[0].Header().Rrtype == dns.TypeCNAME {
			if cname == nil {
				cname = rrs[0]
			}
			continue
		}
		answer = append(answer, rrs...)
		count++
	}
	if len(answer) == 0 && cname != nil {
		answer = []dns.RR{cname}
	}
	return answer, false
}

// srvOptions are what SRV answers need besides the instances.
type srvOptions struct {
	dc, domain string
	ttl        uint32
	metaTXT    bool
	// limit caps the SRV records (0 for none).
	limit int
}

// serviceSRVAnswer answers an SRV question for a service: one SRV record
// per distinct address and port, its target's address in the additional
// section (and the node's metadata as TXT with opts.metaTXT); more says
// that instances were left out by opts.limit.
func serviceSRVAnswer(name string, insts []Instance, opts srvOptions) (answer, extra []dns.RR, more bool) {
	seen := make(map[string]bool, len(insts))
	targets := make(map[string]bool, len(insts))
	for i := range insts {
		in := &insts[i]
		key := net.JoinHostPort(instanceAddress(in), strconv.Itoa(in.Port))
		if seen[key] {
			continue
		}
		seen[key] = true
		if opts.limit > 0 && len(answer) >= opts.limit {
			return answer, extra, true
		}
		target, glue := srvTarget(in, opts)
		answer = append(answer, &dns.SRV{
			Hdr:      header(name, dns.TypeSRV, opts.ttl),
			Priority: 1, Weight: uint16(weightOf(in)), Port: uint16(in.Port), Target: target,
		})
		if targets[target] {
			continue
		}
		targets[target] = true
		extra = append(extra, glue...)
		if opts.metaTXT && len(in.Node.Meta) > 0 {
			extra = append(extra, metaTXT(nodeFQDN(in.Node.Name, nodeDC(in, opts.dc), opts.domain), in.Node.Meta, opts.ttl)...)
		}
	}
	return answer, extra, false
}

// srvTarget names an instance's SRV target and its address records: the
// node's name when the instance uses the node's address, an addr name for
// its own IP, the host name itself (without glue) otherwise.
func srvTarget(in *Instance, opts srvOptions) (string, []dns.RR) {
	if in.Address == "" || in.Address == in.Node.Address {
		target := nodeFQDN(in.Node.Name, nodeDC(in, opts.dc), opts.domain)
		return target, addressRecords(target, dns.TypeANY, in.Node.Address, opts.ttl)
	}
	if ip := net.ParseIP(in.Address); ip != nil {
		target := addrFQDN(ip, nodeDC(in, opts.dc), opts.domain)
		return target, addressRecords(target, dns.TypeANY, in.Address, opts.ttl)
	}
	return dns.Fqdn(in.Address), nil
}

func nodeDC(in *Instance, dc string) string {
	if in.Node.Datacenter != "" {
		return strings.ToLower(in.Node.Datacenter)
	}
	return dc
}

// weightOf is an instance's SRV weight: its warning weight when a check
// warns, its passing weight otherwise (1 and 1 when it has none, or both
// are zero: a registration that named no weights).
func weightOf(in *Instance) int {
	passing, warning := 1, 1
	if in.Weights != nil && (in.Weights.Passing != 0 || in.Weights.Warning != 0) {
		passing, warning = in.Weights.Passing, in.Weights.Warning
	}
	w := passing
	for _, c := range in.Checks {
		switch c.Status {
		case StatusCritical, StatusMaintenance:
			return 0
		case StatusWarning:
			w = warning
		}
	}
	return max(0, min(w, 65535))
}

// healthy keeps the instances DNS returns: none with a critical (or
// maintenance) check, and with onlyPassing none with a warning. It
// filters in place.
func healthy(insts []Instance, onlyPassing bool) []Instance {
	out := insts[:0]
next:
	for _, in := range insts {
		for _, c := range in.Checks {
			if c.Status == StatusCritical || c.Status == StatusMaintenance ||
				(onlyPassing && c.Status != StatusPassing) {
				continue next
			}
		}
		out = append(out, in)
	}
	return out
}

// soaRecord is the domain's SOA record.
func soaRecord(domain string, cfg SOAConfig, serial uint32) *dns.SOA {
	return &dns.SOA{
		Hdr:     header(domain, dns.TypeSOA, cfg.MinTTL),
		Ns:      "ns." + domain,
		Mbox:    "hostmaster." + domain,
		Serial:  serial,
		Refresh: cfg.Refresh,
		Retry:   cfg.Retry,
		Expire:  cfg.Expire,
		Minttl:  cfg.MinTTL,
	}
}

// nsRecords names up to three servers as the domain's name servers, with
// their addresses as glue.
func nsRecords(domain, dc string, servers []Instance, ttl uint32) (ns, glue []dns.RR) {
	seen := map[string]bool{}
	for i := range servers {
		n := &servers[i].Node
		if _, ok := dns.IsDomainName(n.Name); !ok || seen[n.Name] || len(ns) == 3 {
			continue
		}
		seen[n.Name] = true
		target := nodeFQDN(n.Name, nodeDC(&servers[i], dc), domain)
		ns = append(ns, &dns.NS{Hdr: header(domain, dns.TypeNS, ttl), Ns: target})
		glue = append(glue, addressRecords(target, dns.TypeANY, n.Address, ttl)...)
	}
	return ns, glue
}

func ptrRecord(name, target string, ttl uint32) dns.RR {
	return &dns.PTR{Hdr: header(name, dns.TypePTR, ttl), Ptr: target}
}

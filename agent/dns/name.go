package dns

import (
	"encoding/hex"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// Kind is what a question's name asks for.
type Kind int

// Name kinds.
const (
	// KindExternal is a name outside every domain served: the recursors'.
	KindExternal Kind = iota
	// KindApex is the domain itself (SOA, NS).
	KindApex
	KindService
	KindNode
	KindAddr
	KindQuery
	// KindReverse is a name under in-addr.arpa. or ip6.arpa.
	KindReverse
	// KindInvalid is a name inside the domain that names nothing we serve.
	KindInvalid
)

var kindNames = [...]string{"external", "apex", "service", "node", "addr", "query", "reverse", "invalid"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Name is a parsed question name.
type Name struct {
	Kind Kind
	// Domain is the served domain the name ended in ("consul."), which
	// answers use in the names they make.
	Domain string
	// DC is the datacenter the name names; empty means the local one.
	DC string
	// Service and Tag are set for service lookups (Tag may be empty).
	Service string
	Tag     string
	// Node is set for node lookups, Query for prepared-query lookups.
	Node  string
	Query string
	// IP is the address of an addr name or a reverse name; nil when a
	// reverse name is not a whole address.
	IP net.IP
}

// ParseName classifies qname as Consul does: the rightmost kind label
// (service, node, query, addr) splits the name into the parts before it
// and an optional datacenter after it ("<dc>" or "<dc>.dc"). An SRV
// question for an RFC 2782 name (_web._tcp) needs no "service" label.
func ParseName(qname string, qtype uint16, domains ...string) Name {
	name := dns.Fqdn(strings.ToLower(qname))
	if strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.") {
		return Name{Kind: KindReverse, IP: reverseIP(name)}
	}
	domain := ""
	for _, d := range domains {
		if d != "" && (name == d || strings.HasSuffix(name, "."+d)) && len(d) > len(domain) {
			domain = d
		}
	}
	if domain == "" {
		return Name{Kind: KindExternal}
	}
	if name == domain {
		return Name{Kind: KindApex, Domain: domain}
	}
	labels := dns.SplitDomainName(strings.TrimSuffix(name, "."+domain))
	n := Name{Kind: KindInvalid, Domain: domain}
	kind, parts, suffix := splitKind(labels, qtype)
	dc, ok := datacenterOf(suffix)
	if !ok || len(parts) == 0 {
		return n
	}
	n.DC = dc
	switch kind {
	case "service":
		n.Kind = KindService
		n.Service, n.Tag = serviceAndTag(parts)
	case "node":
		n.Kind, n.Node = KindNode, strings.Join(parts, ".")
	case "query":
		n.Kind, n.Query = KindQuery, strings.Join(parts, ".")
	case "addr":
		if ip := hexIP(parts); ip != nil {
			n.Kind, n.IP = KindAddr, ip
		}
	}
	return n
}

// splitKind finds the rightmost kind label.
func splitKind(labels []string, qtype uint16) (kind string, parts, suffix []string) {
	for i := len(labels) - 1; i >= 0; i-- {
		switch labels[i] {
		case "service", "node", "query", "addr":
			return labels[i], labels[:i], labels[i+1:]
		}
		if qtype == dns.TypeSRV && strings.HasPrefix(labels[i], "_") {
			return "service", labels[:i+1], labels[i+1:]
		}
	}
	return "", nil, nil
}

// datacenterOf reads the labels after the kind label.
func datacenterOf(suffix []string) (string, bool) {
	switch {
	case len(suffix) == 0:
		return "", true
	case len(suffix) == 1:
		return suffix[0], true
	case len(suffix) == 2 && suffix[1] == "dc":
		return suffix[0], true
	}
	return "", false
}

// serviceAndTag reads <service>, <tag>.<service> and _<service>._<tag>
// (where _tcp means any tag).
func serviceAndTag(parts []string) (service, tag string) {
	n := len(parts)
	if n == 2 && strings.HasPrefix(parts[0], "_") && strings.HasPrefix(parts[1], "_") {
		tag = parts[1][1:]
		if tag == "tcp" {
			tag = ""
		}
		return parts[0][1:], tag
	}
	return parts[n-1], strings.Join(parts[:n-1], ".")
}

// hexIP decodes the one label of an addr name: 8 hex digits for IPv4, 32
// for IPv6.
func hexIP(parts []string) net.IP {
	if len(parts) != 1 || (len(parts[0]) != 8 && len(parts[0]) != 32) {
		return nil
	}
	b, err := hex.DecodeString(parts[0])
	if err != nil {
		return nil
	}
	return net.IP(b)
}

// reverseIP reads the address of a reverse name, nil unless it is whole.
func reverseIP(name string) net.IP {
	if v4, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(v4, ".")
		if len(l) != 4 {
			return nil
		}
		ip := net.ParseIP(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		return ip.To4()
	}
	v6, _ := strings.CutSuffix(name, ".ip6.arpa.")
	l := strings.Split(v6, ".")
	if len(l) != 32 {
		return nil
	}
	var b strings.Builder
	for i := len(l) - 1; i >= 0; i-- {
		if len(l[i]) != 1 {
			return nil
		}
		b.WriteString(l[i])
	}
	raw, err := hex.DecodeString(b.String())
	if err != nil {
		return nil
	}
	return net.IP(raw)
}

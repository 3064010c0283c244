package dns

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

func TestParseName(t *testing.T) {
	domains := []string{"consul.", "meridian."}
	cases := []struct {
		name  string
		qtype uint16
		want  Name
	}{
		{"web.service.consul.", dns.TypeA, Name{Kind: KindService, Domain: "consul.", Service: "web"}},
		{"WEB.Service.Consul", dns.TypeA, Name{Kind: KindService, Domain: "consul.", Service: "web"}},
		{"web.service.dc2.consul.", dns.TypeA, Name{Kind: KindService, Domain: "consul.", DC: "dc2", Service: "web"}},
		{"web.service.dc2.dc.consul.", dns.TypeA, Name{Kind: KindService, Domain: "consul.", DC: "dc2", Service: "web"}},
		{"v1.web.service.consul.", dns.TypeSRV, Name{Kind: KindService, Domain: "consul.", Service: "web", Tag: "v1"}},
		{"a.b.web.service.consul.", dns.TypeA, Name{Kind: KindService, Domain: "consul.", Service: "web", Tag: "a.b"}},
		{"_web._tcp.service.consul.", dns.TypeSRV, Name{Kind: KindService, Domain: "consul.", Service: "web"}},
		{"_web._v1.service.dc1.consul.", dns.TypeSRV, Name{Kind: KindService, Domain: "consul.", DC: "dc1", Service: "web", Tag: "v1"}},
		{"_web._tcp.consul.", dns.TypeSRV, Name{Kind: KindService, Domain: "consul.", Service: "web"}},
		{"_web._tcp.consul.", dns.TypeA, Name{Kind: KindInvalid, Domain: "consul."}},
		{"web.service.meridian.", dns.TypeA, Name{Kind: KindService, Domain: "meridian.", Service: "web"}},
		{"n1.node.consul.", dns.TypeA, Name{Kind: KindNode, Domain: "consul.", Node: "n1"}},
		{"n1.node.dc1.consul.", dns.TypeA, Name{Kind: KindNode, Domain: "consul.", DC: "dc1", Node: "n1"}},
		{"host.example.node.consul.", dns.TypeA, Name{Kind: KindNode, Domain: "consul.", Node: "host.example"}},
		{"geo.query.consul.", dns.TypeSRV, Name{Kind: KindQuery, Domain: "consul.", Query: "geo"}},
		{"7f000001.addr.dc1.consul.", dns.TypeA, Name{Kind: KindAddr, Domain: "consul.", DC: "dc1", IP: net.IPv4(127, 0, 0, 1).To4()}},
		{"20010db8000000000000000000000001.addr.dc1.consul.", dns.TypeAAAA, Name{Kind: KindAddr, Domain: "consul.", DC: "dc1", IP: net.ParseIP("2001:db8::1")}},
		{"7f00001.addr.dc1.consul.", dns.TypeA, Name{Kind: KindInvalid, Domain: "consul.", DC: "dc1"}},
		{"zz000001.addr.dc1.consul.", dns.TypeA, Name{Kind: KindInvalid, Domain: "consul.", DC: "dc1"}},
		{"consul.", dns.TypeSOA, Name{Kind: KindApex, Domain: "consul."}},
		{"nothing.consul.", dns.TypeA, Name{Kind: KindInvalid, Domain: "consul."}},
		{"service.consul.", dns.TypeA, Name{Kind: KindInvalid, Domain: "consul."}},
		{"web.service.a.b.c.consul.", dns.TypeA, Name{Kind: KindInvalid, Domain: "consul."}},
		{"example.com.", dns.TypeA, Name{Kind: KindExternal}},
		{"notconsul.", dns.TypeA, Name{Kind: KindExternal}},
		{"1.0.0.127.in-addr.arpa.", dns.TypePTR, Name{Kind: KindReverse, IP: net.IPv4(127, 0, 0, 1).To4()}},
		{"0.127.in-addr.arpa.", dns.TypePTR, Name{Kind: KindReverse}},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR,
			Name{Kind: KindReverse, IP: net.ParseIP("2001:db8::1")}},
	}
	for _, c := range cases {
		got := ParseName(c.name, c.qtype, domains...)
		if got.Kind != c.want.Kind || got.Domain != c.want.Domain || got.DC != c.want.DC ||
			got.Service != c.want.Service || got.Tag != c.want.Tag || got.Node != c.want.Node ||
			got.Query != c.want.Query || !got.IP.Equal(c.want.IP) {
			t.Errorf("ParseName(%q, %s) = %+v, want %+v", c.name, dns.TypeToString[c.qtype], got, c.want)
		}
	}
}

func TestParseNamePrefersLongestDomain(t *testing.T) {
	got := ParseName("web.service.alt.consul.", dns.TypeA, "consul.", "alt.consul.")
	if got.Kind != KindService || got.Domain != "alt.consul." || got.DC != "" {
		t.Fatalf("got %+v", got)
	}
}

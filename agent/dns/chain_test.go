package dns

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

const soaLine = "consul. 0 IN SOA ns.consul. hostmaster.consul. 1700000000 3600 600 86400 0"

func TestLookups(t *testing.T) {
	s := newTestServer(t, testCatalog(), func(c *Config) {
		c.UDPAnswerLimit = 8
		c.ServiceTTL = map[string]time.Duration{"db*": 10 * time.Second}
		c.NodeTTL = 30 * time.Second
	})
	cases := []struct {
		name          string
		qtype         uint16
		rcode         int
		answer, extra []string
		ns            []string
	}{
		{name: "web.service.consul.", qtype: dns.TypeA, answer: []string{
			"web.service.consul. 0 IN A 10.0.0.1", "web.service.consul. 0 IN A 10.0.0.2", "web.service.consul. 0 IN A 10.0.0.3"}},
		{name: "web.service.dc1.consul.", qtype: dns.TypeSRV, answer: []string{
			"web.service.dc1.consul. 0 IN SRV 1 10 8080 n1.node.dc1.consul.",
			"web.service.dc1.consul. 0 IN SRV 1 1 8080 n2.node.dc1.consul.",
			"web.service.dc1.consul. 0 IN SRV 1 10 8080 n3.node.dc1.consul."}, extra: []string{
			"n1.node.dc1.consul. 0 IN A 10.0.0.1", "n2.node.dc1.consul. 0 IN A 10.0.0.2", "n3.node.dc1.consul. 0 IN A 10.0.0.3"}},
		{name: "primary.web.service.consul.", qtype: dns.TypeA, answer: []string{"primary.web.service.consul. 0 IN A 10.0.0.1"}},
		{name: "_web._primary.service.consul.", qtype: dns.TypeSRV, answer: []string{
			"_web._primary.service.consul. 0 IN SRV 1 10 8080 n1.node.dc1.consul."}, extra: []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1"}},
		{name: "web.service.meridian.", qtype: dns.TypeSRV, answer: []string{
			"web.service.meridian. 0 IN SRV 1 10 8080 n1.node.dc1.meridian.",
			"web.service.meridian. 0 IN SRV 1 1 8080 n2.node.dc1.meridian.",
			"web.service.meridian. 0 IN SRV 1 10 8080 n3.node.dc1.meridian."}, extra: []string{
			"n1.node.dc1.meridian. 0 IN A 10.0.0.1", "n2.node.dc1.meridian. 0 IN A 10.0.0.2", "n3.node.dc1.meridian. 0 IN A 10.0.0.3"}},
		{name: "web.service.consul.", qtype: dns.TypeAAAA, ns: []string{soaLine}},
		{name: "db.service.consul.", qtype: dns.TypeSRV, answer: []string{"db.service.consul. 10 IN SRV 1 1 5432 0a010001.addr.dc1.consul."},
			extra: []string{"0a010001.addr.dc1.consul. 10 IN A 10.1.0.1"}},
		{name: "ext.service.consul.", qtype: dns.TypeA, answer: []string{"ext.service.consul. 0 IN CNAME db.example.com."}},
		{name: "nope.service.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "web.service.dc9.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "n1.node.consul.", qtype: dns.TypeA, answer: []string{"n1.node.consul. 30 IN A 10.0.0.1"}},
		{name: "meta.node.dc1.consul.", qtype: dns.TypeA, answer: []string{"meta.node.dc1.consul. 30 IN A 10.0.1.1"},
			extra: []string{`meta.node.dc1.consul. 30 IN TXT "rack=r1"`, "meta.node.dc1.consul. 30 IN TXT \"a`=b=c\""}},
		{name: "meta.node.consul.", qtype: dns.TypeTXT, answer: []string{`meta.node.consul. 30 IN TXT "rack=r1"`, "meta.node.consul. 30 IN TXT \"a`=b=c\""}},
		{name: "six.node.consul.", qtype: dns.TypeAAAA, answer: []string{"six.node.consul. 30 IN AAAA 2001:db8::6"}},
		{name: "six.node.consul.", qtype: dns.TypeA, ns: []string{soaLine}},
		{name: "nope.node.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "0a000001.addr.dc1.consul.", qtype: dns.TypeA, answer: []string{"0a000001.addr.dc1.consul. 30 IN A 10.0.0.1"}},
		{name: "geo.query.consul.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "junk.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soaLine}},
		{name: "consul.", qtype: dns.TypeA, ns: []string{soaLine}},
		{name: "consul.", qtype: dns.TypeSOA, answer: []string{soaLine},
			ns:    []string{"consul. 30 IN NS s1.node.dc1.consul.", "consul. 30 IN NS s2.node.dc1.consul."},
			extra: []string{"s1.node.dc1.consul. 30 IN A 10.0.9.1", "s2.node.dc1.consul. 30 IN A 10.0.9.2"}},
		{name: "consul.", qtype: dns.TypeNS,
			answer: []string{"consul. 30 IN NS s1.node.dc1.consul.", "consul. 30 IN NS s2.node.dc1.consul."},
			extra:  []string{"s1.node.dc1.consul. 30 IN A 10.0.9.1", "s2.node.dc1.consul. 30 IN A 10.0.9.2"}},
		{name: "1.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"1.0.0.10.in-addr.arpa. 30 IN PTR n1.node.dc1.consul."}},
		{name: "1.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"1.0.1.10.in-addr.arpa. 10 IN PTR db.service.dc1.consul."}},
		{name: "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", qtype: dns.TypePTR,
			answer: []string{"6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 30 IN PTR six.node.dc1.consul."}},
		// Not ours: no recursors, so REFUSED.
		{name: "9.9.9.9.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeRefused},
		{name: "1.0.0.10.in-addr.arpa.", qtype: dns.TypeSOA, rcode: dns.RcodeRefused},
		{name: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	}
	for _, c := range cases {
		resp := ask(t, s, udpWriter(), c.name, c.qtype, 0)
		label := c.name + " " + dns.TypeToString[c.qtype]
		if resp.Rcode != c.rcode {
			t.Errorf("%s: rcode %s, want %s", label, dns.RcodeToString[resp.Rcode], dns.RcodeToString[c.rcode])
		}
		if c.rcode == dns.RcodeRefused {
			continue
		}
		if !resp.Authoritative {
			t.Errorf("%s: not authoritative", label)
		}
		assertRecords(t, label+" answer", resp.Answer, c.answer...)
		assertRecords(t, label+" authority", resp.Ns, c.ns...)
		assertRecords(t, label+" additional", resp.Extra, c.extra...)
	}
}

func TestOnlyPassing(t *testing.T) {
	s := newTestServer(t, testCatalog(), func(c *Config) { c.OnlyPassing = true })
	resp := ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 0)
	assertRecords(t, "answer", resp.Answer, "web.service.consul. 0 IN A 10.0.0.1", "web.service.consul. 0 IN A 10.0.0.3")
}

func TestAnswersAreShuffled(t *testing.T) {
	b := testCatalog()
	for i := range b.instances {
		b.instances[i].Checks = nil
	}
	s := newTestServer(t, b, nil)
	firsts := map[string]bool{}
	for range 200 {
		resp := ask(t, s, tcpWriter(), "web.service.consul.", dns.TypeA, 0)
		firsts[resp.Answer[0].(*dns.A).A.String()] = true
		if len(firsts) == 4 {
			return
		}
	}
	t.Fatalf("200 queries put only %v first", firsts)
}

func TestStaleReads(t *testing.T) {
	b := testCatalog()
	s := newTestServer(t, b, func(c *Config) { c.MaxStale = 5 * time.Second })
	ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 0)
	if b.staleReads != 1 || b.consistentReads != 0 {
		t.Fatalf("fresh enough: %d stale, %d consistent reads; want 1, 0", b.staleReads, b.consistentReads)
	}
	b.lastContact = 6 * time.Second
	resp := ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 0)
	if b.staleReads != 2 || b.consistentReads != 1 || len(resp.Answer) != 3 {
		t.Fatalf("too stale: %d stale, %d consistent reads, %d answers; want 2, 1, 3", b.staleReads, b.consistentReads, len(resp.Answer))
	}
	off := testCatalog()
	s = newTestServer(t, off, func(c *Config) { c.AllowStale = false })
	ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 0)
	if off.staleReads != 0 || off.consistentReads != 1 {
		t.Fatalf("allow_stale off: %d stale, %d consistent reads", off.staleReads, off.consistentReads)
	}
}

func TestBackendFailure(t *testing.T) {
	b := testCatalog()
	b.err = errBoom
	s := newTestServer(t, b, nil)
	if resp := ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 0); resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	// The SOA does not depend on the catalog.
	if resp := ask(t, s, udpWriter(), "consul.", dns.TypeSOA, 0); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("SOA with a failing catalog: %s", resp)
	}
}

func TestLookupTimeout(t *testing.T) {
	b := testCatalog()
	b.block = true
	s := newTestServer(t, b, func(c *Config) { c.LookupTimeout = 50 * time.Millisecond })
	start := time.Now()
	resp := ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 0)
	if resp.Rcode != dns.RcodeServerFailure || time.Since(start) > 5*time.Second {
		t.Fatalf("rcode %s after %v, want SERVFAIL soon after 50ms", dns.RcodeToString[resp.Rcode], time.Since(start))
	}
}

func TestMalformedQueries(t *testing.T) {
	s := newTestServer(t, testCatalog(), nil)
	two := new(dns.Msg)
	two.SetQuestion("web.service.consul.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	none := new(dns.Msg)
	none.Id = 7
	notify := new(dns.Msg)
	notify.SetNotify("consul.")
	notify.Opcode = dns.OpcodeUpdate
	chaos := new(dns.Msg)
	chaos.SetQuestion("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	for name, c := range map[string]struct {
		req   *dns.Msg
		rcode int
	}{
		"two questions": {two, dns.RcodeFormatError},
		"no question":   {none, dns.RcodeFormatError},
		"update":        {notify, dns.RcodeNotImplemented},
		"chaos class":   {chaos, dns.RcodeNotImplemented},
	} {
		w := udpWriter()
		s.ServeDNS(w, c.req)
		if len(w.msgs) != 1 || w.msgs[0].Rcode != c.rcode {
			t.Errorf("%s: answers %v, want one %s", name, w.msgs, dns.RcodeToString[c.rcode])
		}
	}
	resp := new(dns.Msg)
	resp.SetQuestion("web.service.consul.", dns.TypeA)
	resp.Response = true
	w := udpWriter()
	s.ServeDNS(w, resp)
	if len(w.msgs) != 0 {
		t.Errorf("a response was answered: %v", w.msgs)
	}
}

func TestEDNSEchoed(t *testing.T) {
	s := newTestServer(t, testCatalog(), nil)
	resp := ask(t, s, udpWriter(), "web.service.consul.", dns.TypeA, 1232)
	if opt := resp.IsEdns0(); opt == nil || opt.UDPSize() != 1232 {
		t.Fatalf("EDNS0 option %v, want size 1232", opt)
	}
	// With EDNS0 the answer limit of plain UDP does not apply.
	if len(resp.Answer) != 3 {
		t.Fatalf("%d answers", len(resp.Answer))
	}
}

func TestShutdownEndsLookups(t *testing.T) {
	b := testCatalog()
	b.block = true
	s := newTestServer(t, b, func(c *Config) { c.LookupTimeout = time.Hour })
	done := make(chan *dns.Msg)
	go func() {
		req := new(dns.Msg)
		req.SetQuestion("web.service.consul.", dns.TypeA)
		done <- s.handle(s.ctx, "udp", req)
	}()
	s.Shutdown()
	select {
	case resp := <-done:
		if resp.Rcode != dns.RcodeServerFailure {
			t.Fatalf("rcode %s", dns.RcodeToString[resp.Rcode])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lookup still running after Shutdown")
	}
}

func TestUDPAnswerLimit(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		s := newTestServer(t, testCatalog(), func(c *Config) { c.UDPAnswerLimit = 1; c.EnableTruncate = truncate })
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			udp := ask(t, s, udpWriter(), "web.service.consul.", qtype, 0)
			if len(udp.Answer) != 1 || udp.Truncated != truncate {
				t.Errorf("enable_truncate %v, %s: %d answers, TC %v", truncate, dns.TypeToString[qtype], len(udp.Answer), udp.Truncated)
			}
			if qtype == dns.TypeSRV && len(udp.Extra) != 1 {
				t.Errorf("SRV glue for one answer: %v", udp.Extra)
			}
			if tcp := ask(t, s, tcpWriter(), "web.service.consul.", qtype, 0); len(tcp.Answer) != 3 || tcp.Truncated {
				t.Errorf("TCP %s: %d answers, TC %v", dns.TypeToString[qtype], len(tcp.Answer), tcp.Truncated)
			}
			if edns := ask(t, s, udpWriter(), "web.service.consul.", qtype, 1232); len(edns.Answer) != 3 || edns.Truncated {
				t.Errorf("EDNS0 %s: %d answers, TC %v", dns.TypeToString[qtype], len(edns.Answer), edns.Truncated)
			}
		}
	}
	// One instance left: nothing was cut.
	s := newTestServer(t, testCatalog(), func(c *Config) { c.UDPAnswerLimit = 1; c.EnableTruncate = true })
	if r := ask(t, s, udpWriter(), "primary.web.service.consul.", dns.TypeA, 0); len(r.Answer) != 1 || r.Truncated {
		t.Errorf("one instance: %d answers, TC %v", len(r.Answer), r.Truncated)
	}
}

package dns

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandle feeds raw packets through the query handler: whatever it is
// given, it must not panic, and it answers a well-formed reply or nothing.
func FuzzHandle(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.service.consul.", dns.TypeSRV}, {"_web._tcp.service.dc1.consul.", dns.TypeSRV},
		{"n1.node.consul.", dns.TypeANY}, {"0a000001.addr.dc1.consul.", dns.TypeA},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR}, {"consul.", dns.TypeSOA}, {"geo.query.consul.", dns.TypeA},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, false)
		raw, _ := m.Pack()
		f.Add(raw)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	s, err := New(DefaultConfig(), testCatalog(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Shutdown() })
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			// The miekg/dns server answers FORMERR for what it cannot
			// unpack; nothing reaches the handler.
			return
		}
		for _, w := range []*memWriter{udpWriter(), tcpWriter()} {
			s.ServeDNS(w, req)
			if len(w.msgs) > 1 {
				t.Fatalf("%d replies", len(w.msgs))
			}
			if len(w.msgs) == 1 && w.msgs[0].Id != req.Id {
				t.Fatalf("reply id %d, request %d", w.msgs[0].Id, req.Id)
			}
			if len(w.msgs) == 0 && !req.Response {
				// Only responses go unanswered; a failed WriteMsg (a reply
				// that does not pack) would show here.
				t.Fatalf("query %v got no reply", req)
			}
		}
	})
}

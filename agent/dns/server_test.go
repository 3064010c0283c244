package dns

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func exchange(t *testing.T, network, addr, name string, qtype, edns uint16) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	if edns > 0 {
		req.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(req, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

func TestServerOverSockets(t *testing.T) {
	// Cleanups run last-in first-out: the leak check after Shutdown.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	b := testCatalog()
	for i := range 100 {
		n := Node{Name: fmt.Sprintf("big-%03d", i), Address: fmt.Sprintf("10.2.%d.%d", i/200, i%200+1)}
		b.instances = append(b.instances, Instance{Node: n, Service: "big", Port: 80})
	}
	s, err := New(DefaultConfig(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	addr := s.Addr()
	for _, network := range []string{"udp", "tcp"} {
		resp := exchange(t, network, addr, "web.service.consul.", dns.TypeA, 0)
		if len(resp.Answer) != 3 || resp.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %s", network, resp)
		}
	}
	udp := exchange(t, "udp", addr, "big.service.consul.", dns.TypeSRV, 1232)
	udp.Compress = true
	if !udp.Truncated || len(udp.Answer) == 0 || len(udp.Answer) == 100 || udp.Len() > 1232 {
		t.Fatalf("UDP with EDNS0 1232: TC %v, %d answers, %d bytes", udp.Truncated, len(udp.Answer), udp.Len())
	}
	tcp := exchange(t, "tcp", addr, "big.service.consul.", dns.TypeSRV, 0)
	if tcp.Truncated || len(tcp.Answer) != 100 || len(tcp.Extra) != 100 {
		t.Fatalf("TCP: TC %v, %d answers, %d extra", tcp.Truncated, len(tcp.Answer), len(tcp.Extra))
	}
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestStartTwiceOnOnePort(t *testing.T) {
	s1 := newTestServer(t, testCatalog(), nil)
	if err := s1.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s2 := newTestServer(t, testCatalog(), nil)
	if err := s2.Start(s1.Addr()); err == nil {
		t.Fatal("second server on the same port started")
	}
	if err := s2.Start("no-port"); err == nil {
		t.Fatal("bad address accepted")
	}
}

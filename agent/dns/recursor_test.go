package dns

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream runs a miekg/dns server on 127.0.0.1 over UDP and TCP that
// answers every question with handler, until the test ends.
func upstream(t *testing.T, handler dns.HandlerFunc) string {
	t.Helper()
	pc, ln, err := listenBoth("127.0.0.1", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return pc.LocalAddr().String()
}

func answering(ip string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A " + ip)
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	}
}

func failing(rcode int) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		w.WriteMsg(m)
	}
}

// silent is a UDP address that reads nothing and never answers.
func silent(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestRecursorPassesAnswerThrough(t *testing.T) {
	up := upstream(t, answering("192.0.2.1"))
	s := newTestServer(t, testCatalog(), func(c *Config) { c.Recursors = []string{up} })
	for _, w := range []*memWriter{udpWriter(), tcpWriter()} {
		resp := ask(t, s, w, "www.example.com.", dns.TypeA, 0)
		if resp.Rcode != dns.RcodeSuccess || !resp.RecursionAvailable {
			t.Fatalf("rcode %s RA %v", dns.RcodeToString[resp.Rcode], resp.RecursionAvailable)
		}
		assertRecords(t, "answer", resp.Answer, "www.example.com. 60 IN A 192.0.2.1")
	}
	// In-domain names are still ours, and say recursion is available.
	if resp := ask(t, s, udpWriter(), "n1.node.consul.", dns.TypeA, 0); !resp.RecursionAvailable || len(resp.Answer) != 1 {
		t.Fatalf("node lookup with a recursor: %s", resp)
	}
}

func TestRecursorsTriedInOrder(t *testing.T) {
	bad := upstream(t, failing(dns.RcodeServerFailure))
	nx := upstream(t, failing(dns.RcodeNameError))
	good := upstream(t, answering("192.0.2.2"))
	s := newTestServer(t, testCatalog(), func(c *Config) {
		c.Recursors = []string{silent(t), bad, good}
		c.RecursorTimeout = 200 * time.Millisecond
	})
	resp := ask(t, s, udpWriter(), "www.example.com.", dns.TypeA, 0)
	assertRecords(t, "answer", resp.Answer, "www.example.com. 60 IN A 192.0.2.2")

	// NXDOMAIN is an answer: it is passed through, not retried.
	s = newTestServer(t, testCatalog(), func(c *Config) { c.Recursors = []string{nx, good} })
	if resp := ask(t, s, udpWriter(), "www.example.com.", dns.TypeA, 0); resp.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN from the first recursor", dns.RcodeToString[resp.Rcode])
	}
}

func TestRecursorNeverAnswers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := newTestServer(t, testCatalog(), func(c *Config) {
		c.Recursors = []string{silent(t), silent(t)}
		c.RecursorTimeout = timeout
	})
	start := time.Now()
	resp := ask(t, s, udpWriter(), "www.example.com.", dns.TypeA, 1232)
	took := time.Since(start)
	if resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	// Each recursor gets its timeout, no more.
	if took < 2*timeout || took > 2*timeout+2*time.Second {
		t.Fatalf("SERVFAIL after %v, want about %v", took, 2*timeout)
	}
	if resp.IsEdns0() == nil {
		t.Error("SERVFAIL lost the EDNS0 option")
	}
}

func TestRecursorStrategy(t *testing.T) {
	s := newTestServer(t, testCatalog(), func(c *Config) {
		c.Recursors = []string{"a", "b", "c", "d"}
		c.RecursorStrategy = StrategyRandom
	})
	seen := map[int]bool{}
	for range 200 {
		seen[s.recursorOrder()[0]] = true
	}
	if len(seen) != 4 {
		t.Fatalf("random strategy starts only with %v", seen)
	}
	s = newTestServer(t, testCatalog(), func(c *Config) { c.Recursors = []string{"a", "b", "c"} })
	for range 10 {
		if o := s.recursorOrder(); o[0] != 0 || o[1] != 1 || o[2] != 2 {
			t.Fatalf("sequential order %v", o)
		}
	}
}

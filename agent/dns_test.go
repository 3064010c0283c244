package agent_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// fakeUpstream is a recursor on 127.0.0.1 (UDP and TCP): it answers
// every name with 192.0.2.1, except names under blackhole.example., which
// it never answers.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if strings.HasSuffix(req.Question[0].Name, "blackhole.example.") {
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})
	port := testcluster.FreePorts(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for _, network := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: addr, Net: network, Handler: handler}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ListenAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("upstream %s: %v", network, err)
		}
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return addr
}

func query(t *testing.T, network, addr, name string, qtype, edns uint16) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	if edns > 0 {
		req.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(req, addr)
	if err != nil {
		t.Fatalf("%s %s over %s to %s: %v", name, dns.TypeToString[qtype], network, addr, err)
	}
	return resp
}

// answerSet renders the answer section without TTLs, sorted.
func answerSet(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		cp := dns.Copy(rr)
		cp.Header().Ttl = 0
		out = append(out, strings.Join(strings.Fields(cp.String()), " "))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestDNS runs the DNS interface of a one-server datacenter and of a
// client agent in it against a catalog registered over the HTTP API.
func TestDNS(t *testing.T) {
	up := fakeUpstream(t)
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 1, Args: []string{
		"-recursor", up, "-alt-domain", "meridian",
		"-hcl", `dns_config { recursor_timeout = "300ms", enable_truncate = true, service_ttl { "web*" = "7s" } }`,
	}})
	server := c.WaitForLeader(30 * time.Second)
	cl := client(t, server)
	register := func(node, addr, svc, id string, port int, tags []string, status string) {
		t.Helper()
		reg := &api.CatalogRegistration{
			Node: node, Address: addr, NodeMeta: map[string]string{"rack": "r1"},
			Service: &api.AgentService{ID: id, Service: svc, Port: port, Tags: tags},
			Check:   &api.AgentCheck{CheckID: "chk-" + id, Name: "alive", ServiceID: id, Status: status},
		}
		if _, err := cl.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 4; i++ {
		status, tags := api.HealthPassing, []string{"v1"}
		switch i {
		case 1:
			tags = append(tags, "primary")
		case 2:
			status = api.HealthWarning
		case 4:
			status = api.HealthCritical
		}
		register(fmt.Sprintf("web-%d", i), fmt.Sprintf("10.1.0.%d", i), "web", "web", 8080, tags, status)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range 100 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			register(fmt.Sprintf("big-%03d", i), fmt.Sprintf("10.2.%d.%d", i/200, i%200+1), "big", "big", 9000, nil, api.HealthPassing)
		}()
	}
	wg.Wait()

	agents := map[string]string{"server": server.Agent.DNSAddr(), "client": c.Clients()[0].Agent.DNSAddr()}
	for role, addr := range agents {
		t.Run(role, func(t *testing.T) {
			if addr == "" {
				t.Fatal("no DNS address")
			}
			a := query(t, "udp", addr, "web.service.consul.", dns.TypeA, 0)
			if got, want := answerSet(a.Answer), "web.service.consul. 0 IN A 10.1.0.1\nweb.service.consul. 0 IN A 10.1.0.2\nweb.service.consul. 0 IN A 10.1.0.3"; got != want {
				t.Errorf("A: got\n%s\nwant\n%s", got, want)
			}
			if a.Answer[0].Header().Ttl != 7 {
				t.Errorf("service_ttl web* not applied: %s", a.Answer[0])
			}
			srv := query(t, "udp", addr, "web.service.dc1.consul.", dns.TypeSRV, 0)
			if got, want := answerSet(srv.Answer), "web.service.dc1.consul. 0 IN SRV 1 1 8080 web-1.node.dc1.consul.\n"+
				"web.service.dc1.consul. 0 IN SRV 1 1 8080 web-2.node.dc1.consul.\n"+
				"web.service.dc1.consul. 0 IN SRV 1 1 8080 web-3.node.dc1.consul."; got != want {
				t.Errorf("SRV: got\n%s\nwant\n%s", got, want)
			}
			if got := answerSet(srv.Extra); !strings.Contains(got, "web-1.node.dc1.consul. 0 IN A 10.1.0.1") ||
				strings.Contains(got, "10.1.0.4") {
				t.Errorf("SRV additional:\n%s", got)
			}
			tag := query(t, "udp", addr, "primary.web.service.consul.", dns.TypeA, 0)
			if got := answerSet(tag.Answer); got != "primary.web.service.consul. 0 IN A 10.1.0.1" {
				t.Errorf("tag: %s", got)
			}
			rfc := query(t, "udp", addr, "_web._primary.service.meridian.", dns.TypeSRV, 0)
			if got := answerSet(rfc.Answer); got != "_web._primary.service.meridian. 0 IN SRV 1 1 8080 web-1.node.dc1.meridian." {
				t.Errorf("RFC 2782 on the alt domain: %s", got)
			}
			node := query(t, "udp", addr, "web-4.node.consul.", dns.TypeA, 0)
			if got := answerSet(node.Answer); got != "web-4.node.consul. 0 IN A 10.1.0.4" {
				t.Errorf("node: %s", got)
			}
			if got := answerSet(node.Extra); got != `web-4.node.consul. 0 IN TXT "rack=r1"` {
				t.Errorf("node meta: %s", got)
			}
			ptr := query(t, "udp", addr, "3.0.1.10.in-addr.arpa.", dns.TypePTR, 0)
			if got := answerSet(ptr.Answer); got != "3.0.1.10.in-addr.arpa. 0 IN PTR web-3.node.dc1.consul." {
				t.Errorf("PTR: %s", got)
			}
			for _, name := range []string{"nope.service.consul.", "nope.node.consul.", "web.service.dc9.consul.", "geo.query.consul."} {
				nx := query(t, "udp", addr, name, dns.TypeA, 0)
				if nx.Rcode != dns.RcodeNameError || len(nx.Ns) != 1 || nx.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("%s: want NXDOMAIN with the SOA, got\n%s", name, nx)
				}
			}
			soa := query(t, "tcp", addr, "consul.", dns.TypeSOA, 0)
			if len(soa.Answer) != 1 || !strings.Contains(answerSet(soa.Ns), "IN NS dc1-server-1.node.dc1.consul.") {
				t.Errorf("SOA:\n%s", soa)
			}

			// 100 instances: cut over UDP with TC, whole over TCP.
			plain := query(t, "udp", addr, "big.service.consul.", dns.TypeA, 0)
			if !plain.Truncated || len(plain.Answer) != 3 {
				t.Errorf("UDP without EDNS0: TC %v, %d answers; want TC and udp_answer_limit 3", plain.Truncated, len(plain.Answer))
			}
			tcp := query(t, "tcp", addr, "big.service.consul.", dns.TypeSRV, 0)
			glue := 0
			for _, rr := range tcp.Extra {
				if rr.Header().Rrtype == dns.TypeA {
					glue++
				}
			}
			if tcp.Truncated || len(tcp.Answer) != 100 || glue != 100 {
				t.Errorf("TCP: TC %v, %d answers, %d A records additional; want all 100", tcp.Truncated, len(tcp.Answer), glue)
			}
			// EDNS0: the client's size is honoured, not 512 and not more.
			prev := 0
			for _, size := range []uint16{1232, 4096} {
				e := query(t, "udp", addr, "big.service.consul.", dns.TypeSRV, size)
				e.Compress = true
				if !e.Truncated || e.Len() > int(size) || len(e.Answer) <= prev || len(e.Answer) == 100 {
					t.Errorf("EDNS0 %d: TC %v, %d bytes, %d answers (previous size %d)", size, e.Truncated, e.Len(), len(e.Answer), prev)
				}
				if opt := e.IsEdns0(); opt == nil {
					t.Errorf("EDNS0 %d: no OPT in the answer", size)
				}
				prev = len(e.Answer)
			}
			big := query(t, "udp", addr, "big.service.consul.", dns.TypeA, 8192)
			if big.Truncated || len(big.Answer) != 100 {
				t.Errorf("EDNS0 8192: TC %v, %d answers; want all 100", big.Truncated, len(big.Answer))
			}

			// Names outside the domain: the recursor's answer, passed through.
			ext := query(t, "udp", addr, "www.example.com.", dns.TypeA, 0)
			if got := answerSet(ext.Answer); ext.Rcode != dns.RcodeSuccess || got != "www.example.com. 0 IN A 192.0.2.1" {
				t.Errorf("recursor answer: %s\n%s", dns.RcodeToString[ext.Rcode], got)
			}
			start := time.Now()
			hole := query(t, "udp", addr, "x.blackhole.example.", dns.TypeA, 0)
			if took := time.Since(start); hole.Rcode != dns.RcodeServerFailure || took > 2*time.Second {
				t.Errorf("silent recursor: %s after %v; want SERVFAIL after its 300ms timeout", dns.RcodeToString[hole.Rcode], took)
			}
		})
	}
}

// TestDNSCache: with use_cache a client agent answers from a cache that
// follows the catalog; a change shows in its answers without a restart.
func TestDNSCache(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 1, Args: []string{"-hcl", `dns_config { use_cache = true }`}})
	server := c.WaitForLeader(30 * time.Second)
	cl := client(t, server)
	reg := func(i int, status string) {
		t.Helper()
		_, err := cl.Catalog().Register(&api.CatalogRegistration{
			Node: fmt.Sprintf("web-%d", i), Address: fmt.Sprintf("10.1.0.%d", i),
			Service: &api.AgentService{ID: "web", Service: "web", Port: 80},
			Check:   &api.AgentCheck{CheckID: "alive", Name: "alive", ServiceID: "web", Status: status},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		reg(i, api.HealthPassing)
	}
	addr := c.Clients()[0].Agent.DNSAddr()
	count := func() int { return len(query(t, "udp", addr, "web.service.consul.", dns.TypeA, 0).Answer) }
	if n := count(); n != 3 {
		t.Fatalf("%d answers, want 3", n)
	}
	reg(2, api.HealthCritical)
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if n := count(); n != 2 {
			return fmt.Errorf("%d answers after web-2 turned critical, want 2", n)
		}
		return nil
	})
	reg(4, api.HealthPassing)
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if n := count(); n != 3 {
			return fmt.Errorf("%d answers after web-4 joined, want 3", n)
		}
		return nil
	})
}

// TestDNSOtherDatacenter: <service>.service.<dc> and <node>.node.<dc> are
// answered from that datacenter through the WAN, with SRV targets named
// in it; a datacenter nobody knows is NXDOMAIN.
func TestDNSOtherDatacenter(t *testing.T) {
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 1, Clients: 1})
	dc2 := f.DC("dc2").WaitForLeader(30 * time.Second)
	for i := 1; i <= 2; i++ {
		_, err := client(t, dc2).Catalog().Register(&api.CatalogRegistration{
			Node: fmt.Sprintf("db-%d", i), Address: fmt.Sprintf("10.9.0.%d", i),
			Service: &api.AgentService{ID: "db", Service: "db", Port: 5432},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	addr := f.DC("dc1").Clients()[0].Agent.DNSAddr()
	srv := query(t, "udp", addr, "db.service.dc2.consul.", dns.TypeSRV, 0)
	if got, want := answerSet(srv.Answer), "db.service.dc2.consul. 0 IN SRV 1 1 5432 db-1.node.dc2.consul.\n"+
		"db.service.dc2.consul. 0 IN SRV 1 1 5432 db-2.node.dc2.consul."; got != want {
		t.Errorf("SRV from dc1 for dc2:\n%s\nwant\n%s", got, want)
	}
	if got := answerSet(query(t, "udp", addr, "db-2.node.dc2.consul.", dns.TypeA, 0).Answer); got != "db-2.node.dc2.consul. 0 IN A 10.9.0.2" {
		t.Errorf("node in dc2: %s", got)
	}
	if r := query(t, "udp", addr, "db.service.consul.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("db in dc1: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if r := query(t, "udp", addr, "db.service.dc7.consul.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
		t.Errorf("unknown dc: %s with %d authority records, want NXDOMAIN with the SOA", dns.RcodeToString[r.Rcode], len(r.Ns))
	}
}

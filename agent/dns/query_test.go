package dns

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A prepared query's answer keeps the query's choices: its order (an RTT
// sort), its health rules (a warning instance it kept is answered even
// under only_passing), the datacenter it failed over to, and its TTL; the
// asking client's address reaches the backend for "_ip".
func TestPreparedQueryLookup(t *testing.T) {
	b := testCatalog()
	ttl := 5 * time.Second
	b.queries = map[string]QueryResult{"geo": {
		Service: "web", Datacenter: "DC2", TTL: &ttl,
		Instances: []Instance{
			{Node: Node{Name: "far", Address: "10.2.0.9"}, Service: "web", Port: 80, Checks: []Check{{ID: "c", Status: StatusWarning}}},
			{Node: Node{Name: "near", Address: "10.2.0.1"}, Service: "web", Port: 80},
		},
	}}
	s := newTestServer(t, b, func(c *Config) { c.OnlyPassing = true })
	for range 20 {
		resp := ask(t, s, udpWriter(), "geo.query.consul.", dns.TypeA, 0)
		if len(resp.Answer) != 2 || resp.Answer[0].(*dns.A).A.String() != "10.2.0.9" || resp.Answer[0].Header().Ttl != 5 {
			t.Fatalf("answer %v, want far then near with TTL 5", resp.Answer)
		}
	}
	srv := ask(t, s, udpWriter(), "geo.query.consul.", dns.TypeSRV, 0)
	assertRecords(t, "SRV", srv.Answer,
		"geo.query.consul. 5 IN SRV 1 1 80 far.node.dc2.consul.",
		"geo.query.consul. 5 IN SRV 1 1 80 near.node.dc2.consul.")
	b.mu.Lock()
	source := b.querySource
	b.mu.Unlock()
	if source != "127.0.0.1" {
		t.Fatalf("query source %q, want the client's 127.0.0.1", source)
	}
	if r := ask(t, s, udpWriter(), "other.query.consul.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Fatalf("unknown query: %s", dns.RcodeToString[r.Rcode])
	}
}

package dns

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestAddressRecords(t *testing.T) {
	cases := []struct {
		addr  string
		qtype uint16
		want  []string
	}{
		{"10.0.0.1", dns.TypeA, []string{"x.consul. 5 IN A 10.0.0.1"}},
		{"10.0.0.1", dns.TypeANY, []string{"x.consul. 5 IN A 10.0.0.1"}},
		{"10.0.0.1", dns.TypeAAAA, nil},
		{"2001:db8::1", dns.TypeAAAA, []string{"x.consul. 5 IN AAAA 2001:db8::1"}},
		{"2001:db8::1", dns.TypeA, nil},
		{"db.example.com", dns.TypeA, []string{"x.consul. 5 IN CNAME db.example.com."}},
		{"db.example.com", dns.TypeTXT, nil},
		{"", dns.TypeA, nil},
	}
	for _, c := range cases {
		assertRecords(t, c.addr+" "+dns.TypeToString[c.qtype], addressRecords("x.consul.", c.qtype, c.addr, 5), c.want...)
	}
}

func TestServiceAddressAnswer(t *testing.T) {
	n1 := Node{Name: "n1", Address: "10.0.0.1"}
	n2 := Node{Name: "n2", Address: "10.0.0.2"}
	insts := []Instance{
		{Node: n1, Port: 1},
		{Node: n1, Port: 2}, // same address: one record
		{Node: n2, Address: "10.0.1.2"},
		{Node: n2, Address: "db.example.com"}, // a CNAME only when no IP answers
	}
	all, more := serviceAddressAnswer("web.service.consul.", dns.TypeA, insts, 0, 0)
	assertRecords(t, "all", all, "web.service.consul. 0 IN A 10.0.0.1", "web.service.consul. 0 IN A 10.0.1.2")
	if more {
		t.Error("more without a limit")
	}
	limited, more := serviceAddressAnswer("web.service.consul.", dns.TypeA, insts, 0, 1)
	assertRecords(t, "a_record_limit", limited, "web.service.consul. 0 IN A 10.0.0.1")
	if !more {
		t.Error("limit left instances out, but more is false")
	}
	if _, more := serviceAddressAnswer("web.service.consul.", dns.TypeA, insts[:2], 0, 1); more {
		t.Error("more for a duplicate address")
	}
	cname, _ := serviceAddressAnswer("web.service.consul.", dns.TypeA, insts[3:], 30, 0)
	assertRecords(t, "host name only", cname, "web.service.consul. 30 IN CNAME db.example.com.")
}

func TestServiceSRVAnswer(t *testing.T) {
	n1 := Node{Name: "N1", Address: "10.0.0.1", Meta: map[string]string{"rack": "r1"}}
	n2 := Node{Name: "n2", Address: "10.0.0.2", Datacenter: "dc2"}
	insts := []Instance{
		{Node: n1, Port: 8080, Weights: &Weights{Passing: 10, Warning: 1}},
		{Node: n1, Port: 8080}, // duplicate address and port
		{Node: n1, Address: "10.0.0.1", Port: 9090, Checks: []Check{{Status: StatusWarning}}, Weights: &Weights{Passing: 10, Warning: 2}},
		{Node: n2, Address: "10.9.0.2", Port: 80},
		{Node: n2, Address: "db.example.com", Port: 443},
	}
	answer, extra, more := serviceSRVAnswer("web.service.consul.", insts, srvOptions{dc: "dc1", domain: "consul.", ttl: 7, metaTXT: true})
	if more {
		t.Error("more without a limit")
	}
	two, glue, more := serviceSRVAnswer("web.service.consul.", insts, srvOptions{dc: "dc1", domain: "consul.", limit: 2})
	assertRecords(t, "limited", two,
		"web.service.consul. 0 IN SRV 1 10 8080 n1.node.dc1.consul.",
		"web.service.consul. 0 IN SRV 1 2 9090 n1.node.dc1.consul.")
	assertRecords(t, "limited glue", glue, "n1.node.dc1.consul. 0 IN A 10.0.0.1")
	if !more {
		t.Error("limit left instances out, but more is false")
	}
	assertRecords(t, "answer", answer,
		"web.service.consul. 7 IN SRV 1 10 8080 n1.node.dc1.consul.",
		"web.service.consul. 7 IN SRV 1 2 9090 n1.node.dc1.consul.",
		"web.service.consul. 7 IN SRV 1 1 80 0a090002.addr.dc2.consul.",
		"web.service.consul. 7 IN SRV 1 1 443 db.example.com.")
	assertRecords(t, "extra", extra,
		"n1.node.dc1.consul. 7 IN A 10.0.0.1",
		`n1.node.dc1.consul. 7 IN TXT "rack=r1"`,
		"0a090002.addr.dc2.consul. 7 IN A 10.9.0.2")
}

func TestWeightAndHealth(t *testing.T) {
	pass := Check{Status: StatusPassing}
	warn := Check{Status: StatusWarning}
	crit := Check{Status: StatusCritical}
	maint := Check{Status: StatusMaintenance}
	w := &Weights{Passing: 5, Warning: 2}
	insts := []Instance{
		{ID: "a", Checks: []Check{pass}, Weights: w},
		{ID: "b", Checks: []Check{pass, warn}, Weights: w},
		{ID: "c", Checks: []Check{pass, crit}, Weights: w},
		{ID: "d", Checks: []Check{maint}},
		{ID: "e"},
		{ID: "f", Weights: &Weights{}},
		{ID: "g", Weights: &Weights{Passing: 0, Warning: 3}},
	}
	for id, want := range map[int]int{0: 5, 1: 2, 2: 0, 3: 0, 4: 1, 5: 1, 6: 0} {
		if got := weightOf(&insts[id]); got != want {
			t.Errorf("weight of %s = %d, want %d", insts[id].ID, got, want)
		}
	}
	ids := func(in []Instance) (s string) {
		for _, i := range in {
			s += i.ID
		}
		return s
	}
	if got := ids(healthy(append([]Instance(nil), insts...), false)); got != "abefg" {
		t.Errorf("healthy = %s, want abefg", got)
	}
	if got := ids(healthy(append([]Instance(nil), insts...), true)); got != "aefg" {
		t.Errorf("healthy only passing = %s, want aefg", got)
	}
}

func TestMetaTXT(t *testing.T) {
	meta := map[string]string{"rack": "r1", "a=b": "c", "rfc1035-raw": "as is"}
	assertRecords(t, "meta", metaTXT("n.node.consul.", meta, 0),
		`n.node.consul. 0 IN TXT "rack=r1"`,
		"n.node.consul. 0 IN TXT \"a`=b=c\"",
		`n.node.consul. 0 IN TXT "as is"`)
}

func TestSOAAndNS(t *testing.T) {
	soa := soaRecord("consul.", SOAConfig{Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: 5}, 42)
	assertRecords(t, "soa", []dns.RR{soa}, "consul. 5 IN SOA ns.consul. hostmaster.consul. 42 3600 600 86400 5")
	var servers []Instance
	for _, n := range []string{"s1", "s2", "s3", "s4", "bad_name!"} {
		servers = append(servers, Instance{Node: Node{Name: n, Address: "10.0.9." + n[1:2]}})
	}
	servers[3].Node.Name = "s1" // a duplicate is skipped
	ns, glue := nsRecords("consul.", "dc1", servers, 0)
	assertRecords(t, "ns", ns, "consul. 0 IN NS s1.node.dc1.consul.", "consul. 0 IN NS s2.node.dc1.consul.", "consul. 0 IN NS s3.node.dc1.consul.")
	assertRecords(t, "glue", glue, "s1.node.dc1.consul. 0 IN A 10.0.9.1", "s2.node.dc1.consul. 0 IN A 10.0.9.2", "s3.node.dc1.consul. 0 IN A 10.0.9.3")
}

func TestServiceTTL(t *testing.T) {
	cfg, err := Config{Datacenter: "dc1", Domain: "consul", ServiceTTL: map[string]time.Duration{
		"*": 5 * time.Second, "db*": 10 * time.Second, "db-primary*": 20 * time.Second, "Web": 30 * time.Second,
	}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	for svc, want := range map[string]uint32{"web": 30, "api": 5, "db": 10, "dbx": 10, "db-primary-1": 20, "webx": 5} {
		if got := cfg.serviceTTL(svc); got != want {
			t.Errorf("serviceTTL(%s) = %d, want %d", svc, got, want)
		}
	}
	none := Config{}
	if got := none.serviceTTL("web"); got != 0 {
		t.Errorf("no service_ttl: %d", got)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, c := range map[string]Config{
		"no dc":        {Domain: "consul."},
		"no domain":    {Datacenter: "dc1"},
		"bad domain":   {Datacenter: "dc1", Domain: "a..b"},
		"bad strategy": {Datacenter: "dc1", Domain: "consul.", RecursorStrategy: "fastest"},
		"neg limit":    {Datacenter: "dc1", Domain: "consul.", UDPAnswerLimit: -1},
	} {
		if _, err := c.normalize(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(DefaultConfig(), nil, nil); err != ErrNoBackend {
		t.Errorf("New without backend: %v", err)
	}
}

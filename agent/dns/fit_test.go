package dns

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

// bigSRV is an SRV answer of n instances with glue, as lookups build it.
func bigSRV(n int, edns uint16) (req, resp *dns.Msg) {
	req = new(dns.Msg)
	req.SetQuestion("web.service.consul.", dns.TypeSRV)
	if edns > 0 {
		req.SetEdns0(edns, false)
	}
	var insts []Instance
	for i := range n {
		insts = append(insts, Instance{Node: Node{Name: fmt.Sprintf("node-%03d", i), Address: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}, Port: 80})
	}
	resp = new(dns.Msg)
	resp.SetReply(req)
	resp.Compress = true
	resp.Answer, resp.Extra, _ = serviceSRVAnswer("web.service.consul.", insts, srvOptions{dc: "dc1", domain: "consul."})
	if edns > 0 {
		resp.SetEdns0(edns, false)
	}
	return req, resp
}

// glueMatches checks every SRV answer has its A record and no A record
// is left without its SRV.
func glueMatches(t *testing.T, resp *dns.Msg) {
	t.Helper()
	targets := map[string]bool{}
	for _, rr := range resp.Answer {
		targets[rr.(*dns.SRV).Target] = true
	}
	glue := map[string]bool{}
	for _, rr := range resp.Extra {
		if a, ok := rr.(*dns.A); ok {
			if !targets[a.Hdr.Name] {
				t.Errorf("glue %s has no SRV answer", a.Hdr.Name)
			}
			glue[a.Hdr.Name] = true
		}
	}
	for target := range targets {
		if !glue[target] {
			t.Errorf("SRV target %s lost its glue", target)
		}
	}
}

func TestFit(t *testing.T) {
	cases := []struct {
		name     string
		n        int
		edns     uint16
		network  string
		cfg      Config
		answers  int // -1: as many as fit, checked by size
		truncate bool
	}{
		{"udp answer limit, no TC by default", 10, 0, "udp", Config{UDPAnswerLimit: 3}, 3, false},
		{"udp answer limit with enable_truncate", 10, 0, "udp", Config{UDPAnswerLimit: 3, EnableTruncate: true}, 3, true},
		{"udp answer limit capped at 8", 20, 0, "udp", Config{UDPAnswerLimit: 100}, -1, true},
		{"under the limit", 3, 0, "udp", Config{UDPAnswerLimit: 3, EnableTruncate: true}, 3, false},
		{"edns size cuts with TC", 100, 1232, "udp", Config{UDPAnswerLimit: 3}, -1, true},
		{"large edns size fits all", 100, 8192, "udp", Config{UDPAnswerLimit: 3}, 100, false},
		{"tcp gets everything", 100, 0, "tcp", Config{UDPAnswerLimit: 3}, 100, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, resp := bigSRV(c.n, c.edns)
			fit(req, resp, c.network, &c.cfg, false)
			limit := maxSize(req, c.network)
			if got := resp.Len(); got > limit {
				t.Errorf("response is %d bytes, over %d", got, limit)
			}
			if c.answers >= 0 && len(resp.Answer) != c.answers {
				t.Errorf("%d answers, want %d", len(resp.Answer), c.answers)
			}
			if c.answers < 0 {
				if len(resp.Answer) == 0 || len(resp.Answer) >= c.n {
					t.Errorf("%d answers of %d: want a cut that keeps some", len(resp.Answer), c.n)
				}
				// One more answer would not have fit.
				if c.edns > 0 {
					_, full := bigSRV(c.n, c.edns)
					full.Answer = full.Answer[:len(resp.Answer)+1]
					syncExtra(full, full.Extra)
					if full.Len() <= limit {
						t.Errorf("cut to %d answers but %d fit", len(resp.Answer), len(resp.Answer)+1)
					}
				}
			}
			if resp.Truncated != c.truncate {
				t.Errorf("TC = %v, want %v", resp.Truncated, c.truncate)
			}
			if c.edns > 0 && resp.IsEdns0() == nil {
				t.Error("EDNS0 option lost")
			}
			glueMatches(t, resp)
			if _, err := resp.Pack(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFitTooLargeForOneRecord(t *testing.T) {
	req := new(dns.Msg)
	req.SetQuestion("n.node.consul.", dns.TypeTXT)
	resp := new(dns.Msg)
	resp.SetReply(req)
	long := make([]byte, 250)
	for i := range long {
		long[i] = 'x'
	}
	for i := range 3 {
		resp.Answer = append(resp.Answer, &dns.TXT{Hdr: header("n.node.consul.", dns.TypeTXT, 0), Txt: []string{fmt.Sprint(i), string(long)}})
	}
	fit(req, resp, "udp", &Config{UDPAnswerLimit: 3}, false)
	if resp.Len() > 512 || !resp.Truncated || len(resp.Answer) != 1 {
		t.Fatalf("len %d, TC %v, %d answers: want one answer under 512 bytes with TC", resp.Len(), resp.Truncated, len(resp.Answer))
	}
}

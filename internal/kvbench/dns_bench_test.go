package kvbench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkDNS measures SRV lookups of a 10-instance service
// (web.service.consul) over UDP, one socket per client, against a
// one-server datacenter (the dev agent's shape) and against a client
// agent of a three-server datacenter (allow_stale, the default), each
// with the default configuration and with dns_config.use_cache: queries/s
// and p50/p99 for 1 and 64 concurrent clients.
func BenchmarkDNS(b *testing.B) {
	for _, shape := range []struct {
		name             string
		servers, clients int
		args             []string
	}{
		{"dev", 1, 0, nil},
		{"dev+cache", 1, 0, []string{"-hcl", "dns_config { use_cache = true }"}},
		{"client-of-3", 3, 1, nil},
		{"client-of-3+cache", 3, 1, []string{"-hcl", "dns_config { use_cache = true }"}},
	} {
		b.Run(shape.name, func(b *testing.B) {
			c := testcluster.New(b, testcluster.Options{Servers: shape.servers, Clients: shape.clients, Args: shape.args})
			leader := c.WaitForLeader(30 * time.Second)
			cl, err := api.NewClient(&api.Config{Address: leader.HTTPAddr})
			if err != nil {
				b.Fatal(err)
			}
			for i := range 10 {
				_, err := cl.Catalog().Register(&api.CatalogRegistration{
					Node: fmt.Sprintf("web-%d", i), Address: fmt.Sprintf("10.0.0.%d", i+1),
					Service: &api.AgentService{ID: "web", Service: "web", Port: 8080},
					Check:   &api.AgentCheck{CheckID: "alive", Name: "alive", ServiceID: "web", Status: api.HealthPassing},
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			target := leader
			if shape.clients > 0 {
				target = c.Clients()[0]
			}
			addr := target.Agent.DNSAddr()
			// Wait until the agent answers all ten (a client's server may
			// still be catching up).
			testcluster.WaitFor(b, 10*time.Second, func() error {
				conn, err := dns.Dial("udp", addr)
				if err != nil {
					return err
				}
				defer conn.Close()
				return srvLookup(conn, 10)
			})
			for _, workers := range []int{1, 64} {
				b.Run(fmt.Sprintf("c%d", workers), func(b *testing.B) { driveDNS(b, addr, workers) })
			}
		})
	}
}

// srvLookup asks for web.service.consul SRV on conn and checks the
// answer count (udp_answer_limit caps it at 3 without EDNS0).
func srvLookup(conn *dns.Conn, instances int) error {
	req := new(dns.Msg)
	req.SetQuestion("web.service.consul.", dns.TypeSRV)
	if err := conn.WriteMsg(req); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := conn.ReadMsg()
	if err != nil {
		return err
	}
	if resp.Id != req.Id || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != min(3, instances) {
		return fmt.Errorf("answer: rcode %s, %d records", dns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	return nil
}

// driveDNS runs b.N lookups from workers clients, each on its own UDP
// socket.
func driveDNS(b *testing.B, addr string, workers int) {
	conns := make([]*dns.Conn, workers)
	for i := range conns {
		conn, err := dns.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns[i] = conn
	}
	var lat latencies
	var next, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/workers+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := srvLookup(conn, 10); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				local = append(local, time.Since(t0))
			}
			lat.add(local)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d lookups failed, first: %v", n, b.N, *firstErr.Load())
	}
	lat.report(b, elapsed, b.N)
}

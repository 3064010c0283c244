package kvbench

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// BenchmarkKVGetACL compares KV read throughput with ACLs off and on
// (deny by default, a token whose policy reads read/): the token is
// resolved once and cached until an ACL table changes, so enforcement
// must cost no Raft round trip per request. Each variant runs on its own
// three-server datacenter with a client agent; "servers" spreads 64
// readers over the servers, "client" sends them through the client
// agent (whose cache asks a server once per token_ttl).
func BenchmarkKVGetACL(b *testing.B) {
	for _, v := range []struct {
		name string
		acl  bool
	}{{"acl-off", false}, {"acl-on", true}} {
		b.Run(v.name, func(b *testing.B) {
			opts := testcluster.Options{Servers: 3, Clients: 1}
			if v.acl {
				opts.Args = []string{"-hcl", `acl { enabled = true default_policy = "deny" }`}
			}
			c := testcluster.New(b, opts)
			c.WaitForLeader(30 * time.Second)
			token := ""
			if v.acl {
				token = benchToken(b, c.Servers()[0].HTTPAddr)
			}
			mk := func(nodes []*testcluster.Node) []*api.Client {
				var out []*api.Client
				for _, n := range nodes {
					tr := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}
					cl, err := api.NewClient(&api.Config{Address: n.HTTPAddr, Transport: tr, Token: token})
					if err != nil {
						b.Fatal(err)
					}
					out = append(out, cl)
				}
				return out
			}
			servers, client := mk(c.Servers()), mk(c.Clients())
			value := []byte(strings.Repeat("v", 256))
			for i := 0; i < 100; i++ {
				if _, err := servers[0].KV().Put(&api.KVPair{Key: fmt.Sprintf("read/%d", i), Value: value}, nil); err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			get := func(cl *api.Client) error {
				pair, _, err := cl.KV().Get(fmt.Sprintf("read/%d", seq.Add(1)%100), nil)
				if err == nil && pair == nil {
					err = fmt.Errorf("key missing")
				}
				return err
			}
			b.Run("servers/c64", func(b *testing.B) { drive(b, servers, 64, get) })
			b.Run("client/c64", func(b *testing.B) { drive(b, client, 64, get) })
		})
	}
}

// benchToken bootstraps ACLs, writes the read/ keys with the management
// token and returns a token that may write read/ (and so read it).
func benchToken(b *testing.B, addr string) string {
	b.Helper()
	anon, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		b.Fatal(err)
	}
	root, _, err := anon.ACL().Bootstrap()
	if err != nil {
		b.Fatal(err)
	}
	admin, err := api.NewClient(&api.Config{Address: addr, Token: root.SecretID})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{Name: "bench", Rules: `key_prefix "read/" { policy = "write" }`}, nil); err != nil {
		b.Fatal(err)
	}
	tok, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "bench"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return tok.SecretID
}

// BenchmarkKVGetACLInterleaved runs both datacenters of BenchmarkKVGetACL
// side by side and alternates short rounds between them, so load from
// elsewhere on the machine falls on both alike; it reports each one's
// throughput over all rounds and their ratio (on/off, the bar
// is 0.9). b.N is the number of reads per round and side.
func BenchmarkKVGetACLInterleaved(b *testing.B) {
	type side struct {
		clients []*api.Client
		ops     int
		elapsed time.Duration
	}
	setup := func(acl bool) *side {
		opts := testcluster.Options{Servers: 3}
		if acl {
			opts.Args = []string{"-hcl", `acl { enabled = true default_policy = "deny" }`}
		}
		c := testcluster.New(b, opts)
		c.WaitForLeader(30 * time.Second)
		token := ""
		if acl {
			token = benchToken(b, c.Servers()[0].HTTPAddr)
		}
		s := &side{}
		for _, n := range c.Servers() {
			tr := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}
			cl, err := api.NewClient(&api.Config{Address: n.HTTPAddr, Transport: tr, Token: token})
			if err != nil {
				b.Fatal(err)
			}
			s.clients = append(s.clients, cl)
		}
		for i := 0; i < 100; i++ {
			if _, err := s.clients[0].KV().Put(&api.KVPair{Key: fmt.Sprintf("read/%d", i), Value: []byte("v")}, nil); err != nil {
				b.Fatal(err)
			}
		}
		return s
	}
	off, on := setup(false), setup(true)
	var seq atomic.Int64
	round := func(s *side, n int) {
		var next atomic.Int64
		var failed atomic.Int64
		done := make(chan struct{})
		start := time.Now()
		for w := 0; w < 64; w++ {
			go func(cl *api.Client) {
				defer func() { done <- struct{}{} }()
				for next.Add(1) <= int64(n) {
					if _, _, err := cl.KV().Get(fmt.Sprintf("read/%d", seq.Add(1)%100), nil); err != nil {
						failed.Add(1)
					}
				}
			}(s.clients[w%len(s.clients)])
		}
		for w := 0; w < 64; w++ {
			<-done
		}
		s.elapsed += time.Since(start)
		s.ops += n
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d reads failed", f)
		}
	}
	round(off, 500) // warm both
	round(on, 500)
	off.ops, off.elapsed, on.ops, on.elapsed = 0, 0, 0, 0
	b.ResetTimer()
	for r := 0; r < 10; r++ {
		if r%2 == 0 {
			round(off, b.N)
			round(on, b.N)
		} else {
			round(on, b.N)
			round(off, b.N)
		}
	}
	b.StopTimer()
	offRate := float64(off.ops) / off.elapsed.Seconds()
	onRate := float64(on.ops) / on.elapsed.Seconds()
	b.ReportMetric(offRate, "off-ops/s")
	b.ReportMetric(onRate, "on-ops/s")
	b.ReportMetric(onRate/offRate, "on/off")
}

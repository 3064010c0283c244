package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// memWriter is an in-memory dns.ResponseWriter that keeps what it is
// given.
type memWriter struct {
	remote net.Addr
	msgs   []*dns.Msg
}

func udpWriter() *memWriter {
	return &memWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
}
func tcpWriter() *memWriter {
	return &memWriter{remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
}

func (w *memWriter) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600} }
func (w *memWriter) RemoteAddr() net.Addr { return w.remote }
func (w *memWriter) WriteMsg(m *dns.Msg) error {
	// Pack and unpack as the wire would, so what tests see is what a
	// client sees.
	raw, err := m.Pack()
	if err != nil {
		return err
	}
	out := new(dns.Msg)
	if err := out.Unpack(raw); err != nil {
		return err
	}
	w.msgs = append(w.msgs, out)
	return nil
}
func (w *memWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *memWriter) Close() error                { return nil }
func (w *memWriter) TsigStatus() error           { return nil }
func (w *memWriter) TsigTimersOnly(bool)         {}
func (w *memWriter) Hijack()                     {}

// fakeBackend is an in-memory catalog of one datacenter.
type fakeBackend struct {
	mu        sync.Mutex
	dc        string
	nodes     []Node
	instances []Instance
	err       error
	// lastContact is what stale reads report; staleReads and
	// consistentReads count them.
	lastContact     time.Duration
	staleReads      int
	consistentReads int
	// block makes every read wait for its context.
	block bool
	// queries are the prepared queries by name; querySource is the
	// source the last execution was given.
	queries     map[string]QueryResult
	querySource string
}

func (b *fakeBackend) begin(ctx context.Context, dc string, stale bool) (Meta, error) {
	b.mu.Lock()
	block, err := b.block, b.err
	b.mu.Unlock()
	if block {
		<-ctx.Done()
		return Meta{}, ctx.Err()
	}
	if err != nil {
		return Meta{}, err
	}
	if dc != b.dc {
		return Meta{}, fmt.Errorf("%w %q", ErrNoPathToDC, dc)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if stale {
		b.staleReads++
		return Meta{LastContact: b.lastContact}, nil
	}
	b.consistentReads++
	return Meta{KnownLeader: true}, nil
}

func (b *fakeBackend) ServiceNodes(ctx context.Context, dc, service, tag string, onlyPassing, stale bool) ([]Instance, Meta, error) {
	meta, err := b.begin(ctx, dc, stale)
	if err != nil {
		return nil, meta, err
	}
	var out []Instance
	for _, in := range b.instances {
		if strings.EqualFold(in.Service, service) && (tag == "" || slices.ContainsFunc(in.Tags, func(t string) bool { return strings.EqualFold(t, tag) })) {
			out = append(out, in)
		}
	}
	return out, meta, nil
}

func (b *fakeBackend) Node(ctx context.Context, dc, name string, stale bool) (*Node, Meta, error) {
	meta, err := b.begin(ctx, dc, stale)
	if err != nil {
		return nil, meta, err
	}
	for _, n := range b.nodes {
		if strings.EqualFold(n.Name, name) {
			return &n, meta, nil
		}
	}
	return nil, meta, nil
}

func (b *fakeBackend) Nodes(ctx context.Context, dc string, stale bool) ([]Node, Meta, error) {
	meta, err := b.begin(ctx, dc, stale)
	return b.nodes, meta, err
}

func (b *fakeBackend) Services(ctx context.Context, dc string, stale bool) ([]string, Meta, error) {
	meta, err := b.begin(ctx, dc, stale)
	var out []string
	for _, in := range b.instances {
		if !slices.Contains(out, in.Service) {
			out = append(out, in.Service)
		}
	}
	return out, meta, err
}

func (b *fakeBackend) PreparedQuery(ctx context.Context, dc, name, source string, stale bool) (QueryResult, Meta, error) {
	meta, err := b.begin(ctx, dc, stale)
	if err != nil {
		return QueryResult{}, meta, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.querySource = source
	if qr, ok := b.queries[name]; ok {
		return qr, meta, nil
	}
	return QueryResult{}, meta, fmt.Errorf("%w: %q", ErrQueryNotFound, name)
}

// testCatalog is dc1 with nodes n1..n4 (10.0.0.1-4) each running web
// (n4's instance critical, n2's warning, n1's tagged primary), a node
// with meta, and servers s1 and s2 running "consul".
func testCatalog() *fakeBackend {
	b := &fakeBackend{dc: "dc1"}
	for i := 1; i <= 4; i++ {
		n := Node{Name: fmt.Sprintf("n%d", i), Address: fmt.Sprintf("10.0.0.%d", i), Datacenter: "dc1"}
		b.nodes = append(b.nodes, n)
		in := Instance{Node: n, ID: "web", Service: "web", Port: 8080, Tags: []string{"v1"},
			Weights: &Weights{Passing: 10, Warning: 1}, Checks: []Check{{ID: "serfHealth", Status: StatusPassing}}}
		switch i {
		case 1:
			in.Tags = append(in.Tags, "primary")
		case 2:
			in.Checks = append(in.Checks, Check{ID: "web", Status: StatusWarning})
		case 4:
			in.Checks = append(in.Checks, Check{ID: "web", Status: StatusCritical})
		}
		b.instances = append(b.instances, in)
	}
	meta := Node{Name: "meta", Address: "10.0.1.1", Datacenter: "dc1", Meta: map[string]string{"rack": "r1", "a=b": "c"}}
	v6 := Node{Name: "six", Address: "2001:db8::6", Datacenter: "dc1"}
	b.nodes = append(b.nodes, meta, v6)
	for i := 1; i <= 2; i++ {
		n := Node{Name: fmt.Sprintf("s%d", i), Address: fmt.Sprintf("10.0.9.%d", i), Datacenter: "dc1"}
		b.nodes = append(b.nodes, n)
		b.instances = append(b.instances, Instance{Node: n, ID: "consul", Service: "consul", Port: 8300})
	}
	b.instances = append(b.instances,
		Instance{Node: b.nodes[0], ID: "db", Service: "db", Address: "10.1.0.1", Port: 5432},
		Instance{Node: b.nodes[1], ID: "ext", Service: "ext", Address: "db.example.com", Port: 443},
	)
	return b
}

func newTestServer(t *testing.T, b Backend, tune func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AltDomain = "meridian."
	if tune != nil {
		tune(&cfg)
	}
	s, err := New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Unix(1700000000, 0) }
	t.Cleanup(func() { s.Shutdown() })
	return s
}

// ask sends one question through ServeDNS on an in-memory writer.
func ask(t *testing.T, s *Server, w *memWriter, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	if edns > 0 {
		req.SetEdns0(edns, false)
	}
	s.ServeDNS(w, req)
	if len(w.msgs) != 1 {
		t.Fatalf("%s %s: %d answers written, want 1", name, dns.TypeToString[qtype], len(w.msgs))
	}
	return w.msgs[0]
}

// records renders RRs in zone-file form, sorted, without the OPT record.
func records(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, normalizeRR(rr.String()))
	}
	sort.Strings(out)
	return out
}

func normalizeRR(s string) string { return strings.Join(strings.Fields(s), " ") }

// zone parses expected records written as zone-file lines.
func zone(t *testing.T, lines ...string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", l, err)
		}
		out = append(out, normalizeRR(rr.String()))
	}
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func assertRecords(t *testing.T, section string, got []dns.RR, want ...string) {
	t.Helper()
	g, w := records(got), zone(t, want...)
	if g == nil {
		g = []string{}
	}
	if !slices.Equal(g, w) {
		t.Errorf("%s:\n got  %s\n want %s", section, strings.Join(g, "\n      "), strings.Join(w, "\n      "))
	}
}

var errBoom = errors.New("boom")

// watchBackend is a fakeBackend that answers blocking queries.
type watchBackend struct {
	*fakeBackend
	index      uint64
	changed    chan struct{}
	watchCalls int
}

func newWatchBackend() *watchBackend {
	return &watchBackend{fakeBackend: testCatalog(), index: 1, changed: make(chan struct{})}
}

// update changes the catalog and wakes blocked queries.
func (b *watchBackend) update(fn func(*fakeBackend)) {
	b.mu.Lock()
	fn(b.fakeBackend)
	b.index++
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *watchBackend) WatchServiceNodes(ctx context.Context, dc, service, tag string, onlyPassing bool, minIndex uint64, wait time.Duration) ([]Instance, Meta, error) {
	b.mu.Lock()
	b.watchCalls++
	idx, changed := b.index, b.changed
	b.mu.Unlock()
	if minIndex >= idx {
		select {
		case <-changed:
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, Meta{}, ctx.Err()
		}
	}
	b.mu.Lock()
	idx = b.index
	b.mu.Unlock()
	insts, meta, err := b.fakeBackend.ServiceNodes(ctx, dc, service, tag, onlyPassing, true)
	meta.Index = idx
	return insts, meta, err
}

package health

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"

	"github.com/meridian-io/meridian/internal/clock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testCtx bounds a test's waits.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the test's bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// advanceUntil advances clock by step until cond holds (bounded in real
// time), for code that schedules its timers asynchronously.
func advanceUntil(t *testing.T, clk *clock.Fake, step time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for !cond() {
		clk.Advance(step)
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatal("timed out advancing the clock")
		}
	}
}

// result is one check result seen by a recorder.
type result struct{ id, status, output string }

// recorder is a Notifier that keeps every result.
type recorder struct {
	mu  sync.Mutex
	got []result
	ch  chan result
}

func newRecorder() *recorder { return &recorder{ch: make(chan result, 1000)} }

func (r *recorder) UpdateCheck(id, status, output string) {
	r.mu.Lock()
	r.got = append(r.got, result{id, status, output})
	r.mu.Unlock()
	r.ch <- result{id, status, output}
}

func (r *recorder) next(t *testing.T) result {
	t.Helper()
	select {
	case res := <-r.ch:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("no check result")
		return result{}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// fakeCatalog is an in-memory catalog of one node that records writes.
type fakeCatalog struct {
	mu          sync.Mutex
	node        *pb.Node
	services    map[string]*pb.Service
	checks      map[string]*pb.HealthCheck
	registers   []*pb.RegisterRequest
	deregisters []*pb.DeregisterRequest
	// gate, when set, holds every Register until it can receive; entered
	// gets a value as a Register starts waiting.
	gate    chan struct{}
	entered chan struct{}
	// failures makes the next n calls fail.
	failures int
}

var errCatalogDown = errors.New("catalog down")

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{services: map[string]*pb.Service{}, checks: map[string]*pb.HealthCheck{}}
}

func (c *fakeCatalog) fail() bool {
	if c.failures > 0 {
		c.failures--
		return true
	}
	return false
}

func (c *fakeCatalog) NodeServices(_ context.Context, node string) (*pb.NodeServicesResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail() {
		return nil, errCatalogDown
	}
	resp := &pb.NodeServicesResponse{}
	if c.node != nil {
		resp.Node = proto.Clone(c.node).(*pb.Node)
	}
	for _, s := range c.services {
		resp.Services = append(resp.Services, proto.Clone(s).(*pb.Service))
	}
	return resp, nil
}

func (c *fakeCatalog) NodeChecks(_ context.Context, node string) ([]*pb.HealthCheck, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail() {
		return nil, errCatalogDown
	}
	var out []*pb.HealthCheck
	for _, h := range c.checks {
		out = append(out, proto.Clone(h).(*pb.HealthCheck))
	}
	return out, nil
}

func (c *fakeCatalog) Register(ctx context.Context, req *pb.RegisterRequest) error {
	c.mu.Lock()
	gate, entered := c.gate, c.entered
	c.mu.Unlock()
	if gate != nil {
		if entered != nil {
			entered <- struct{}{}
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail() {
		return errCatalogDown
	}
	c.registers = append(c.registers, proto.Clone(req).(*pb.RegisterRequest))
	if c.node == nil || !req.SkipNodeUpdate {
		c.node = proto.Clone(req.Node).(*pb.Node)
	}
	if req.Service != nil {
		s := proto.Clone(req.Service).(*pb.Service)
		s.Node = req.Node.GetNode()
		c.services[s.Id] = s
	}
	for _, h := range req.Checks {
		h = proto.Clone(h).(*pb.HealthCheck)
		c.checks[h.CheckId] = h
	}
	return nil
}

func (c *fakeCatalog) Deregister(_ context.Context, req *pb.DeregisterRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail() {
		return errCatalogDown
	}
	c.deregisters = append(c.deregisters, proto.Clone(req).(*pb.DeregisterRequest))
	switch {
	case req.ServiceId != "":
		delete(c.services, req.ServiceId)
		for id, h := range c.checks {
			if h.ServiceId == req.ServiceId {
				delete(c.checks, id)
			}
		}
	case req.CheckId != "":
		delete(c.checks, req.CheckId)
	}
	return nil
}

func (c *fakeCatalog) service(id string) *pb.Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.services[id]; s != nil {
		return proto.Clone(s).(*pb.Service)
	}
	return nil
}

func (c *fakeCatalog) check(id string) *pb.HealthCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.checks[id]; h != nil {
		return proto.Clone(h).(*pb.HealthCheck)
	}
	return nil
}

func (c *fakeCatalog) registerCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.registers)
}

func (c *fakeCatalog) edit(f func(c *fakeCatalog)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// testConfig is a Config for node "node1".
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.NodeName = "node1"
	cfg.NodeID = "11111111-2222-3333-4444-555555555555"
	cfg.Datacenter = "dc1"
	cfg.Address = "10.0.0.1"
	cfg.TaggedAddresses = map[string]string{"lan": "10.0.0.1"}
	cfg.NodeMeta = map[string]string{"rack": "r1"}
	return cfg
}

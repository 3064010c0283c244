package dns

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/miekg/dns"

	"github.com/meridian-io/meridian/internal/bubble"
)

func TestFlightCoalesces(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		var f flight
		var calls atomic.Int32
		release := make(chan struct{})
		fn := func() ([]Instance, Meta, error) {
			calls.Add(1)
			<-release
			return []Instance{{ID: "a"}}, Meta{}, nil
		}
		var wg sync.WaitGroup
		got := make([][]Instance, 10)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], _, _ = f.do("k", fn)
			}()
		}
		synctest.Wait() // every caller is waiting on the one read
		close(release)
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Fatalf("%d reads for 10 concurrent callers, want 1", n)
		}
		for i, g := range got {
			if len(g) != 1 || g[0].ID != "a" {
				t.Fatalf("caller %d got %v", i, g)
			}
		}
		// Once it is done, the next caller reads again.
		release = make(chan struct{})
		close(release)
		f.do("k", fn)
		if n := calls.Load(); n != 2 {
			t.Fatalf("%d reads after the flight landed, want 2", n)
		}
	})
}

// TestSharedInstancesUntouched: lookups that share a read's instances
// filter and shuffle their own copies.
func TestSharedInstancesUntouched(t *testing.T) {
	s := newTestServer(t, testCatalog(), nil)
	shared := testCatalog().instances[:4]
	before := append([]Instance(nil), shared...)
	msg := new(dns.Msg)
	msg.SetQuestion("web.service.consul.", dns.TypeA)
	r := &request{msg: msg, q: msg.Question[0], network: "udp", name: Name{Domain: "consul."}}
	for range 20 {
		if _, err := s.serviceAnswer(r, shared, "dc1", 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range shared {
		if shared[i].Node.Name != before[i].Node.Name {
			t.Fatalf("shared instances reordered or filtered: %v", shared)
		}
	}
}

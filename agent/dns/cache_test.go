package dns

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-io/meridian/internal/bubble"
)

func TestServiceCache(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		b := newWatchBackend()
		s, err := New(Config{Datacenter: "dc1", Domain: "consul.", AllowStale: true, MaxStale: time.Hour, UseCache: true}, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		lookup := func() []dns.RR {
			t.Helper()
			w := udpWriter()
			req := new(dns.Msg)
			req.SetQuestion("web.service.consul.", dns.TypeA)
			s.ServeDNS(w, req)
			return w.msgs[0].Answer
		}
		for range 5 {
			if n := len(lookup()); n != 3 {
				t.Fatalf("%d answers, want 3", n)
			}
		}
		synctest.Wait()
		b.mu.Lock()
		reads, watches := b.staleReads, b.watchCalls
		b.mu.Unlock()
		// One read for the first lookup, then one blocked query waiting.
		if reads != 1 || watches != 2 {
			t.Fatalf("5 lookups: %d catalog reads, %d watch calls; want 1 and 2", reads, watches)
		}

		// A change reaches the cache without a lookup asking for it.
		b.update(func(f *fakeBackend) { f.instances[2].Checks = []Check{{Status: StatusCritical}} })
		synctest.Wait()
		assertRecords(t, "after the change", lookup(),
			"web.service.consul. 0 IN A 10.0.0.1", "web.service.consul. 0 IN A 10.0.0.2")

		// An entry nobody asks for goes away.
		time.Sleep(cacheIdle + 2*cacheWait)
		synctest.Wait()
		s.cache.mu.Lock()
		left := len(s.cache.entries)
		s.cache.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d idle entries left", left)
		}
		if err := s.Shutdown(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestServiceCacheMaxAgeAndErrors(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		b := newWatchBackend()
		s, err := New(Config{Datacenter: "dc1", Domain: "consul.", AllowStale: true, MaxStale: time.Hour,
			UseCache: true, CacheMaxAge: 10 * time.Second}, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Shutdown()
		q := serviceQuery{dc: "dc1", service: "web"}
		if _, _, ok := s.cache.get(t.Context(), q); !ok {
			t.Fatal("no cached answer")
		}
		// Past cache_max_age without a change, the cache declines.
		time.Sleep(11 * time.Second)
		if _, _, ok := s.cache.get(t.Context(), q); ok {
			t.Fatal("answer older than cache_max_age served")
		}
		// A failing refresh makes lookups read for themselves.
		b.mu.Lock()
		b.err = errBoom
		b.mu.Unlock()
		b.update(func(*fakeBackend) {})
		synctest.Wait()
		if _, _, ok := s.cache.get(t.Context(), q); ok {
			t.Fatal("cache answered after its refresh failed")
		}
	})
}

func TestCacheOffWithoutWatcherOrStale(t *testing.T) {
	s, err := New(Config{Datacenter: "dc1", Domain: "consul.", AllowStale: true, UseCache: true}, testCatalog(), nil)
	if err != nil || s.cache != nil {
		t.Fatalf("cache on a backend that cannot watch: %v", err)
	}
	s, err = New(Config{Datacenter: "dc1", Domain: "consul.", UseCache: true}, newWatchBackend(), nil)
	if err != nil || s.cache != nil {
		t.Fatalf("cache without allow_stale: %v", err)
	}
}

package dns

import (
	"context"
	"sync"
	"time"
)

// Watcher is a Backend that can wait for a service's instances to change
// (a blocking query): the answer once the catalog's index passes
// minIndex, or after wait. The service cache (use_cache) needs it.
type Watcher interface {
	WatchServiceNodes(ctx context.Context, dc, service, tag string, onlyPassing bool, minIndex uint64, wait time.Duration) ([]Instance, Meta, error)
}

// Cache timings.
const (
	// cacheWait is how long one blocking query of the cache waits.
	cacheWait = time.Minute
	// cacheIdle is how long an entry lives without lookups.
	cacheIdle = 3 * time.Minute
	// cacheRetry is the pause after a failed refresh.
	cacheRetry = time.Second
)

// serviceCache keeps the instances of recently looked-up services fresh
// with blocking queries, as Consul's agent cache does under use_cache: a
// lookup answers from memory, and each entry's goroutine asks again as
// soon as the catalog changes. An answer is as fresh as a stale read (the
// server's own state, one round trip behind). Entries unused for
// cacheIdle stop. The cache's goroutines end with its context.
type serviceCache struct {
	ctx     context.Context
	watcher Watcher
	maxAge  time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
	wg      sync.WaitGroup
}

type cacheEntry struct {
	ready chan struct{} // closed after the first read

	mu       sync.Mutex
	insts    []Instance
	meta     Meta
	err      error
	fetched  time.Time
	lastUsed time.Time
}

type serviceQuery struct {
	dc, service, tag string
	onlyPassing      bool
}

func newServiceCache(ctx context.Context, w Watcher, maxAge time.Duration) *serviceCache {
	return &serviceCache{ctx: ctx, watcher: w, maxAge: maxAge, now: time.Now, entries: map[string]*cacheEntry{}}
}

// get returns the cached instances of q, starting an entry on first use.
// ok is false when the cache has no usable answer (its read failed, or it
// is older than cache_max_age): the caller reads the catalog itself.
func (c *serviceCache) get(ctx context.Context, q serviceQuery) (insts []Instance, meta Meta, ok bool) {
	key := serviceKey(q.dc, q.service, q.tag, q.onlyPassing)
	c.mu.Lock()
	e, found := c.entries[key]
	if !found {
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			return nil, Meta{}, false
		}
		e = &cacheEntry{ready: make(chan struct{}), lastUsed: c.now()}
		c.entries[key] = e
		c.wg.Add(1)
		go c.refresh(key, q, e)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, Meta{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.now()
	e.lastUsed = now
	if e.err != nil || (c.maxAge > 0 && now.Sub(e.fetched) > c.maxAge) {
		return nil, Meta{}, false
	}
	return e.insts, e.meta, true
}

// refresh keeps one entry current until it goes unused or the cache
// stops.
func (c *serviceCache) refresh(key string, q serviceQuery, e *cacheEntry) {
	defer c.wg.Done()
	defer c.drop(key, e)
	var index uint64
	first := true
	for c.ctx.Err() == nil {
		insts, meta, err := c.watcher.WatchServiceNodes(c.ctx, q.dc, q.service, q.tag, q.onlyPassing, index, cacheWait)
		e.mu.Lock()
		if err != nil {
			e.err = err // lookups read the catalog themselves meanwhile
		} else {
			e.insts, e.meta, e.err, e.fetched = insts, meta, nil, c.now()
		}
		idle := c.now().Sub(e.lastUsed) > cacheIdle
		e.mu.Unlock()
		if first {
			close(e.ready)
			first = false
		}
		if idle {
			return
		}
		if err != nil {
			index = 0
			select {
			case <-time.After(cacheRetry):
			case <-c.ctx.Done():
			}
			continue
		}
		if meta.Index < index {
			index = 0 // the index went back (a restore): read afresh
		} else {
			index = meta.Index
		}
	}
}

func (c *serviceCache) drop(key string, e *cacheEntry) {
	c.mu.Lock()
	if c.entries[key] == e {
		delete(c.entries, key)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
	default:
		close(e.ready)
	}
}

// wait waits for every refresh goroutine; the cache's context must be
// done.
func (c *serviceCache) wait() { c.wg.Wait() }

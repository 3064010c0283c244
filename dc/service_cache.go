package dc

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/meridian-io/meridian/pb"
)

// serviceCache keeps the latest answer of each shape of service read
// (service, tags, node-meta, passing, with checks) with the service's
// index, so that readers of a large, unchanged service share one answer
// instead of each walking the store: the service's index moves with
// anything such a read depends on (its instances, their checks and
// nodes), so an entry at the current index is what a read would return.
// A restore replaces the store, and with it every entry's validity.
//
// Entries hold store rows; the cache is bounded by the instances it holds.
type serviceCache struct {
	mu        sync.Mutex
	entries   map[string]*serviceEntry
	instances int
}

type serviceEntry struct {
	index     uint64
	store     <-chan struct{} // the store's AbandonCh when read
	instances []*pb.ServiceInstance
}

const (
	// serviceCacheMin is the smallest answer worth caching: reading a
	// few instances costs less than keeping them.
	serviceCacheMin = 32
	// serviceCacheMax bounds the instances all entries hold.
	serviceCacheMax = 50000
)

// serviceReadKey is the shape of a service read; the query options (token,
// index, consistency) do not change its answer.
func serviceReadKey(req *pb.ServiceNodesRequest) string {
	var b strings.Builder
	b.WriteString(req.Service)
	b.WriteByte(0)
	b.WriteString(strconv.FormatBool(req.PassingOnly))
	b.WriteString(strconv.FormatBool(req.WithChecks))
	for _, t := range req.Tags {
		b.WriteByte(0)
		b.WriteString(t)
	}
	meta := req.GetQ().GetNodeMeta()
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		b.WriteByte(1)
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(meta[k])
	}
	return b.String()
}

// get returns the cached answer for key at index from store, if any. The
// slice is shared: callers must not modify it.
func (c *serviceCache) get(key string, index uint64, store <-chan struct{}) ([]*pb.ServiceInstance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.index != index || e.store != store {
		return nil, false
	}
	return e.instances, true
}

// put records the answer for key at index, replacing an older one.
func (c *serviceCache) put(key string, index uint64, store <-chan struct{}, instances []*pb.ServiceInstance) {
	if len(instances) < serviceCacheMin || len(instances) > serviceCacheMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*serviceEntry{}
	}
	if old := c.entries[key]; old != nil {
		if old.store == store && old.index > index {
			return // a concurrent reader cached a newer answer
		}
		c.instances -= len(old.instances)
		delete(c.entries, key)
	}
	for k, e := range c.entries {
		if c.instances+len(instances) <= serviceCacheMax {
			break
		}
		c.instances -= len(e.instances)
		delete(c.entries, k)
	}
	c.entries[key] = &serviceEntry{index: index, store: store, instances: instances}
	c.instances += len(instances)
}

package testcluster

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Federation is several datacenters whose servers share one WAN pool.
type Federation struct {
	// DCs are the datacenters, dc1, dc2, ... in order.
	DCs []*Cluster
}

// NewFederation starts n datacenters named dc1..dcN, each shaped by opts
// (its Datacenter is set per DC), whose servers retry-join the WAN pool
// through dc1's servers, and waits until every server routes to every
// datacenter.
func NewFederation(t testing.TB, n int, opts Options) *Federation {
	t.Helper()
	f := &Federation{}
	var wanSeeds []string
	for i := range n {
		o := opts
		o.Datacenter = fmt.Sprintf("dc%d", i+1)
		o.RetryJoinWAN = slices.Clone(wanSeeds)
		c := New(t, o)
		if i == 0 {
			for _, s := range c.Servers() {
				wanSeeds = append(wanSeeds, s.WANAddr)
			}
		}
		f.DCs = append(f.DCs, c)
	}
	f.WaitRouted(60 * time.Second)
	return f
}

// DC returns the datacenter named name.
func (f *Federation) DC(name string) *Cluster {
	for _, c := range f.DCs {
		if c.opts.Datacenter == name {
			return c
		}
	}
	return nil
}

// WaitRouted waits until every running server lists every datacenter of
// the federation and sees every running server alive in the WAN pool.
func (f *Federation) WaitRouted(timeout time.Duration) {
	t := f.DCs[0].t
	t.Helper()
	WaitFor(t, timeout, func() error {
		servers := 0
		for _, c := range f.DCs {
			servers += len(c.Servers())
		}
		for _, c := range f.DCs {
			for _, s := range c.Servers() {
				dcs := s.Agent.Server().Datacenters()
				if len(dcs) != len(f.DCs) {
					return fmt.Errorf("%s knows datacenters %v, want %d", s.Name, dcs, len(f.DCs))
				}
				if n := s.Agent.NumWANMembers(); n != servers {
					return fmt.Errorf("%s sees %d alive WAN members, want %d", s.Name, n, servers)
				}
			}
		}
		return nil
	})
}

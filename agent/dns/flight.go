package dns

import (
	"strconv"
	"sync"
)

// flight coalesces identical service reads in flight at the same time: a
// read that finds the same question already being read waits for that
// read's answer instead of asking the catalog again. Only stale reads are
// coalesced; they promise no freshness a later read would give.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done  chan struct{}
	insts []Instance
	meta  Meta
	err   error
}

// do runs fn once for all callers that ask for key while it runs. The
// instances returned are shared: callers copy before they change them.
func (f *flight) do(key string, fn func() ([]Instance, Meta, error)) ([]Instance, Meta, error) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.insts, c.meta, c.err
	}
	if f.calls == nil {
		f.calls = map[string]*call{}
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.insts, c.meta, c.err = fn()
	return c.insts, c.meta, c.err
}

func serviceKey(dc, service, tag string, onlyPassing bool) string {
	return dc + "\x00" + service + "\x00" + tag + "\x00" + strconv.FormatBool(onlyPassing)
}

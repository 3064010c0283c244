package telemetry

import (
	"sync"
	"sync/atomic"
	"time"
)

// tallyInterval is how often a Tally hands its counts to the Sink.
const tallyInterval = time.Second

// Tally is a counter of one key by the value of one label, for events
// too frequent to send through go-metrics one by one (every RPC): Add is
// an atomic increment, and the sums reach the Sink once a second and
// when it closes. Prometheus and statsd see the same totals as with
// IncrCounter, up to a second later; in the JSON summary the counter's
// Sum is the number of events and its Count the number of hand-overs.
type Tally struct {
	s     *Sink
	key   []string
	label string

	mu     sync.RWMutex
	counts map[string]*atomic.Int64
}

// NewTally returns a Tally of key by label on s (a Tally that counts
// nothing on a nil Sink).
func (s *Sink) NewTally(key []string, label string) *Tally {
	t := &Tally{s: s, key: key, label: label, counts: map[string]*atomic.Int64{}}
	if s == nil {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tallies = append(s.tallies, t)
	if s.tallyStop == nil && !s.closed {
		s.tallyStop = make(chan struct{})
		s.tallyDone = make(chan struct{})
		go s.flushTallies(s.tallyStop, s.tallyDone)
	}
	return t
}

// Add counts one event whose label has value v.
func (t *Tally) Add(v string) {
	if t == nil || t.s == nil {
		return
	}
	t.mu.RLock()
	c := t.counts[v]
	t.mu.RUnlock()
	if c == nil {
		t.mu.Lock()
		if c = t.counts[v]; c == nil {
			c = new(atomic.Int64)
			t.counts[v] = c
		}
		t.mu.Unlock()
	}
	c.Add(1)
}

// flush hands the counts since the last flush to the Sink.
func (t *Tally) flush() {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for v, c := range t.counts {
		if n := c.Swap(0); n > 0 {
			t.s.emitCounter(t.key, float32(n), Label{Name: t.label, Value: v})
		}
	}
}

func (s *Sink) flushTallies(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(tallyInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-stop:
			s.flushAllTallies()
			return
		}
		s.flushAllTallies()
	}
}

func (s *Sink) flushAllTallies() {
	s.mu.RLock()
	ts := s.tallies
	s.mu.RUnlock()
	for _, t := range ts {
		t.flush()
	}
}

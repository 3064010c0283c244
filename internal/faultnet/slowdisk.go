package faultnet

import (
	"time"

	"github.com/hashicorp/raft"
)

// SlowLogStore returns a raft.LogStore that sleeps delay() before each
// StoreLog and StoreLogs of inner (once per batch), modelling a slow or
// stalling disk; delay may change its answer over time (a soak run turns
// the slowness on and off) and must be safe for concurrent use. A delay of
// zero or less does not sleep. The other methods pass through, and the
// store is monotonic (raft.MonotonicLogStore) exactly when inner is.
func SlowLogStore(inner raft.LogStore, delay func() time.Duration) raft.LogStore {
	s := &slowLogStore{LogStore: inner, delay: delay}
	if m, ok := inner.(raft.MonotonicLogStore); ok {
		return &slowMonotonicLogStore{slowLogStore: s, mono: m}
	}
	return s
}

type slowLogStore struct {
	raft.LogStore
	delay func() time.Duration
}

func (s *slowLogStore) StoreLog(l *raft.Log) error {
	s.sleep()
	return s.LogStore.StoreLog(l)
}

func (s *slowLogStore) StoreLogs(logs []*raft.Log) error {
	s.sleep()
	return s.LogStore.StoreLogs(logs)
}

func (s *slowLogStore) sleep() {
	if d := s.delay(); d > 0 {
		time.Sleep(d) // the fault itself: a write that takes d
	}
}

// slowMonotonicLogStore keeps an inner store's MonotonicLogStore answer.
type slowMonotonicLogStore struct {
	*slowLogStore
	mono raft.MonotonicLogStore
}

func (s *slowMonotonicLogStore) IsMonotonic() bool { return s.mono.IsMonotonic() }

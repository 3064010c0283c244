package faultnet

import (
	"time"

	"github.com/hashicorp/raft"
)

// SlowLogStore returns a raft.LogStore that sleeps delay() before each
// StoreLog and StoreLogs of inner (once per batch), modelling a slow or
// stalling disk; delay may change its answer over time (a soak run turns
// the slowness on and off) and must be safe for concurrent use. A delay of
// zero or less does not sleep. The other methods pass through: the store
// is monotonic (raft.MonotonicLogStore) and stages entries
// (raft.LogStager) exactly when inner does, so a slow leader replicates
// while it writes, as it would on a real slow disk.
func SlowLogStore(inner raft.LogStore, delay func() time.Duration) raft.LogStore {
	return &slowLogStore{LogStore: inner, delay: delay}
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

// IsMonotonic is inner's answer (false when inner does not say).
func (s *slowLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// StageLogs stages logs in inner if inner can.
func (s *slowLogStore) StageLogs(logs []*raft.Log) bool {
	st, ok := s.LogStore.(raft.LogStager)
	return ok && st.StageLogs(logs)
}

// UnstageLogs withdraws logs staged in inner.
func (s *slowLogStore) UnstageLogs(logs []*raft.Log) {
	if st, ok := s.LogStore.(raft.LogStager); ok {
		st.UnstageLogs(logs)
	}
}

package faultnet

import (
	"time"

	"github.com/hashicorp/raft"
)

// SlowLogStore returns a raft.LogStore that sleeps delay() before each
// StoreLog and StoreLogs of inner (once per batch), modelling a slow or
// stalling disk; delay may change its answer over time (a soak run turns
// the slowness on and off) and must be safe for concurrent use. A delay of
// zero or less does not sleep.
func SlowLogStore(inner raft.LogStore, delay func() time.Duration) raft.LogStore {
	return HookLogStore(inner, func([]*raft.Log) error {
		if d := delay(); d > 0 {
			time.Sleep(d) // the fault itself: a write that takes d
		}
		return nil
	})
}

// HookLogStore returns a raft.LogStore that calls before with each batch
// ahead of inner's StoreLog and StoreLogs: before may wait (a slow disk),
// and an error from it fails the write, which stores nothing. The other
// methods pass through: the store is monotonic (raft.MonotonicLogStore)
// and stages entries (raft.LogStager) exactly when inner does, so a
// leader on a slow disk still replicates while it writes, as it would on
// a real one.
func HookLogStore(inner raft.LogStore, before func([]*raft.Log) error) raft.LogStore {
	return &hookLogStore{LogStore: inner, before: before}
}

type hookLogStore struct {
	raft.LogStore
	before func([]*raft.Log) error
}

func (s *hookLogStore) StoreLog(l *raft.Log) error {
	if err := s.before([]*raft.Log{l}); err != nil {
		return err
	}
	return s.LogStore.StoreLog(l)
}

func (s *hookLogStore) StoreLogs(logs []*raft.Log) error {
	if err := s.before(logs); err != nil {
		return err
	}
	return s.LogStore.StoreLogs(logs)
}

// IsMonotonic is inner's answer (false when inner does not say).
func (s *hookLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// StageLogs stages logs in inner if inner can.
func (s *hookLogStore) StageLogs(logs []*raft.Log) bool {
	st, ok := s.LogStore.(raft.LogStager)
	return ok && st.StageLogs(logs)
}

// UnstageLogs withdraws logs staged in inner.
func (s *hookLogStore) UnstageLogs(logs []*raft.Log) {
	if st, ok := s.LogStore.(raft.LogStager); ok {
		st.UnstageLogs(logs)
	}
}

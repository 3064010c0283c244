package faultnet

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// monotonicStore is an in-memory log store that declares itself monotonic.
type monotonicStore struct{ *raft.InmemStore }

func (monotonicStore) IsMonotonic() bool { return true }

func TestSlowLogStore(t *testing.T) {
	const d = 20 * time.Millisecond
	cached := func() raft.LogStore {
		c, err := raft.NewLogCache(16, raft.NewInmemStore())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cases := []struct {
		name          string
		inner         raft.LogStore
		wantMonotonic bool
		wantStages    bool
	}{
		{"plain store", raft.NewInmemStore(), false, false},
		{"monotonic store", monotonicStore{raft.NewInmemStore()}, true, false},
		{"log cache", cached(), false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			s := SlowLogStore(tc.inner, func() time.Duration { calls.Add(1); return d })

			start := time.Now()
			if err := s.StoreLog(&raft.Log{Index: 1, Data: []byte("a")}); err != nil {
				t.Fatal(err)
			}
			if err := s.StoreLogs([]*raft.Log{{Index: 2}, {Index: 3}}); err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed < 2*d {
				t.Errorf("two slow writes took %v, want at least %v", elapsed, 2*d)
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("delay asked %d times, want once per call (2)", got)
			}
			var l raft.Log
			if err := s.GetLog(1, &l); err != nil || string(l.Data) != "a" {
				t.Fatalf("GetLog(1) = %q, %v", l.Data, err)
			}
			if last, err := s.LastIndex(); err != nil || last != 3 {
				t.Fatalf("LastIndex = %d, %v; want 3", last, err)
			}
			m, ok := s.(raft.MonotonicLogStore)
			if got := ok && m.IsMonotonic(); got != tc.wantMonotonic {
				t.Errorf("monotonic = %v, want %v", got, tc.wantMonotonic)
			}

			// Staged entries are readable before they are stored, and
			// gone once withdrawn; a store that cannot stage says so.
			staged := []*raft.Log{{Index: 4, Data: []byte("b")}}
			if got := s.(raft.LogStager).StageLogs(staged); got != tc.wantStages {
				t.Fatalf("StageLogs = %v, want %v", got, tc.wantStages)
			}
			err := s.GetLog(4, &l)
			if tc.wantStages && (err != nil || string(l.Data) != "b") {
				t.Errorf("GetLog(4) of a staged entry = %q, %v", l.Data, err)
			}
			if !tc.wantStages && err == nil {
				t.Errorf("GetLog(4) found an entry that was never stored")
			}
			// Compaction (DeleteRange of older entries) keeps them.
			if err := s.DeleteRange(1, 2); err != nil {
				t.Fatal(err)
			}
			err = s.GetLog(4, &l)
			if tc.wantStages && err != nil {
				t.Errorf("GetLog(4) of a staged entry after compacting 1-2: %v", err)
			}
			if err := s.GetLog(2, &l); err == nil {
				t.Errorf("GetLog(2) found a deleted entry")
			}
			s.(raft.LogStager).UnstageLogs(staged)
			if err := s.GetLog(4, &l); err == nil {
				t.Errorf("GetLog(4) after UnstageLogs found %q", l.Data)
			}
		})
	}
}

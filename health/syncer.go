package health

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
)

// Anti-entropy defaults (Consul's).
const (
	// DefaultAEInterval is the base period of full syncs.
	DefaultAEInterval = time.Minute
	// DefaultAERetryInterval is the wait after a failed full sync.
	DefaultAERetryInterval = 15 * time.Second
	// DefaultAEServerUpInterval is the stagger of a full sync requested by
	// TriggerFullSync (a server joined).
	DefaultAEServerUpInterval = 3 * time.Second
	// aeScaleThreshold is the cluster size up to which periods are not
	// scaled.
	aeScaleThreshold = 128
)

// ScaleFactor returns the factor applied to anti-entropy periods for a
// cluster of n nodes: 1 up to 128 nodes, then ceil(log2(n) - log2(128)) + 1
// (2 up to 256, 3 up to 512, ...).
func ScaleFactor(n int) int {
	if n <= aeScaleThreshold {
		return 1
	}
	return int(math.Ceil(math.Log2(float64(n))-math.Log2(aeScaleThreshold))) + 1
}

// SyncStatus tells how anti-entropy is doing.
type SyncStatus struct {
	// LastFullSync and LastPartialSync are the clock times of the last
	// successful syncs (zero if none yet).
	LastFullSync    time.Time
	LastPartialSync time.Time
	// LastError is the error of the last sync, "" if it succeeded.
	LastError string
}

// Syncer is anti-entropy: it makes the catalog match the State. After
// Start it runs a full sync at once and then every AEInterval plus a random
// part of AEInterval×ScaleFactor(cluster size); between them it runs a
// partial sync after every local change. A failed sync, full or partial,
// is followed by a full sync after AERetryInterval (plus a scaled random
// part). Changes that arrive
// while a sync is in flight coalesce into one more sync. Errors are logged;
// the agent keeps running.
type Syncer struct {
	state       *State
	catalog     Catalog
	clusterSize func() int
	clk         clock.Clock
	logger      *slog.Logger

	interval, retryInterval, serverUpInterval time.Duration
	// random returns a random duration in [0, d) (replaced by tests).
	random func(d time.Duration) time.Duration

	fullCh chan struct{} // buffered 1: TriggerFullSync

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	started bool
	paused  int
	status  SyncStatus
}

// NewSyncer returns a Syncer of state against cat. clusterSize (nil: 1)
// reports the number of nodes in the datacenter; clock nil is clock.Real.
// It uses cfg's AEInterval, AERetryInterval, AEServerUpInterval and Logger
// (zero values take the defaults). It starts nothing.
func NewSyncer(cfg Config, state *State, cat Catalog, clusterSize func() int, clk clock.Clock) *Syncer {
	if clk == nil {
		clk = clock.Real()
	}
	if clusterSize == nil {
		clusterSize = func() int { return 1 }
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Syncer{
		state:            state,
		catalog:          cat,
		clusterSize:      clusterSize,
		clk:              clk,
		logger:           logger.With("component", "anti-entropy"),
		interval:         orDefault(cfg.AEInterval, DefaultAEInterval),
		retryInterval:    orDefault(cfg.AERetryInterval, DefaultAERetryInterval),
		serverUpInterval: orDefault(cfg.AEServerUpInterval, DefaultAEServerUpInterval),
		random:           randomStagger,
		fullCh:           make(chan struct{}, 1),
		ctx:              ctx,
		cancel:           cancel,
		done:             make(chan struct{}),
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Start starts the sync loop (once).
func (s *Syncer) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.ctx.Err() != nil {
		return
	}
	s.started = true
	go s.run()
}

// Shutdown stops the loop, cancelling a sync in flight, and waits for it.
func (s *Syncer) Shutdown() {
	s.mu.Lock()
	started := s.started
	s.cancel()
	s.mu.Unlock()
	if started {
		<-s.done
	}
}

// TriggerFullSync asks for a full sync soon (after a random part of
// AEServerUpInterval), as when a server joins.
func (s *Syncer) TriggerFullSync() {
	select {
	case s.fullCh <- struct{}{}:
	default:
	}
}

// Pause stops syncing until as many Resume calls (for loading a batch of
// local changes at once).
func (s *Syncer) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused++
}

// Resume undoes one Pause; the last one triggers a partial sync.
func (s *Syncer) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused == 0 {
		return
	}
	s.paused--
	if s.paused == 0 {
		s.state.triggerSync()
	}
}

// Paused reports whether syncing is paused.
func (s *Syncer) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused > 0
}

// Status returns the outcome of the last syncs.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// stagger returns a random duration in [0, d×ScaleFactor(cluster size)).
func (s *Syncer) stagger(d time.Duration) time.Duration {
	return s.random(time.Duration(ScaleFactor(s.clusterSize())) * d)
}

func (s *Syncer) run() {
	defer close(s.done)
	for {
		// Full sync; on failure wait for the retry timer or a trigger.
		if !s.fullSync() {
			if !s.wait(s.retryInterval + s.stagger(s.retryInterval)) {
				return
			}
			continue
		}
		// Partial syncs until the next full one is due.
		switch s.partialSyncs() {
		case nextFull:
		case nextRetry:
			if !s.wait(s.retryInterval + s.stagger(s.retryInterval)) {
				return
			}
		case nextDone:
			return
		}
	}
}

type nextStep int

const (
	nextFull nextStep = iota
	nextRetry
	nextDone
)

func (s *Syncer) fullSync() bool {
	if s.Paused() {
		return false
	}
	err := s.state.SyncFull(s.ctx, s.catalog)
	s.record(err, true)
	if err != nil {
		if s.ctx.Err() == nil {
			s.logger.Error("full sync failed", "error", err)
		}
		return false
	}
	return true
}

// wait waits for d or a full-sync trigger; false on shutdown.
func (s *Syncer) wait(d time.Duration) bool {
	fire, timer := clock.After(s.clk, d)
	defer timer.Stop()
	select {
	case <-fire:
		return true
	case <-s.fullCh:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// partialSyncs runs partial syncs on local changes until the next full
// sync is due, a partial sync fails (retry with a full sync) or shutdown.
func (s *Syncer) partialSyncs() nextStep {
	nextFullSync, timer := clock.After(s.clk, s.interval+s.stagger(s.interval))
	defer timer.Stop()
	for {
		select {
		case <-nextFullSync:
			return nextFull
		case <-s.fullCh:
			if !s.wait(s.random(s.serverUpInterval)) {
				return nextDone
			}
			return nextFull
		case <-s.state.SyncNotify():
			if s.Paused() {
				continue
			}
			err := s.state.SyncChanges(s.ctx, s.catalog)
			s.record(err, false)
			if err != nil {
				if s.ctx.Err() != nil {
					return nextDone
				}
				s.logger.Error("partial sync failed", "error", err)
				return nextRetry
			}
		case <-s.ctx.Done():
			return nextDone
		}
	}
}

func (s *Syncer) record(err error, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.status.LastError = err.Error()
		return
	}
	s.status.LastError = ""
	now := s.clk.Now()
	s.status.LastPartialSync = now
	if full {
		s.status.LastFullSync = now
	}
}

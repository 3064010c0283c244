package health

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"

	"github.com/meridian-io/meridian/internal/clock"
)

// State is the agent's local view of its own services and checks, the
// authority the Syncer pushes to the catalog. Every entry carries an
// in-sync flag and a generation number: a change marks the entry out of
// sync, and a sync marks it in sync again only if it did not change while
// the sync was in flight. Output-only changes of a check are deferred by
// Config.CheckUpdateInterval (status changes are not). All methods are safe
// for concurrent use; values handed in are copied and values handed out are
// copies.
type State struct {
	cfg    Config
	clk    clock.Clock
	logger *slog.Logger

	// syncMu serialises SyncFull and SyncChanges.
	syncMu sync.Mutex

	mu             sync.Mutex
	services       map[string]*serviceState
	checks         map[string]*checkState
	nodeInfoInSync bool
	gen            uint64
	closed         bool
	syncCh         chan struct{} // buffered 1: "something is out of sync"
	changeCh       chan struct{} // closed on the next local change
}

type serviceState struct {
	svc     *pb.Service // for a deleted entry only the ID may be set
	inSync  bool
	deleted bool
	gen     uint64
}

type checkState struct {
	chk           *pb.HealthCheck // for a deleted entry only IDs may be set
	inSync        bool
	deleted       bool
	gen           uint64
	criticalSince time.Time
	deferTimer    clock.Timer // pending sync of an output-only change
}

// NewState returns an empty State for the node described by cfg (NodeName,
// NodeID, Datacenter, Address, TaggedAddresses, NodeMeta,
// CheckUpdateInterval, Logger). A nil clock is clock.Real.
func NewState(cfg Config, clk clock.Clock) *State {
	if clk == nil {
		clk = clock.Real()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.TaggedAddresses = maps.Clone(cfg.TaggedAddresses)
	cfg.NodeMeta = maps.Clone(cfg.NodeMeta)
	return &State{
		cfg:      cfg,
		clk:      clk,
		logger:   logger,
		services: map[string]*serviceState{},
		checks:   map[string]*checkState{},
		syncCh:   make(chan struct{}, 1),
		changeCh: make(chan struct{}),
	}
}

// SyncNotify returns the channel that receives a value (coalesced) when a
// local change needs a partial sync.
func (s *State) SyncNotify() <-chan struct{} { return s.syncCh }

// Changed returns a channel closed at the next local change of a service
// or check, output included (for hash-blocking reads of the agent API).
func (s *State) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeCh
}

func (s *State) nextGen() uint64 {
	s.gen++
	return s.gen
}

// changedLocked wakes watchers and, when sync is set, the syncer.
func (s *State) changedLocked(sync bool) {
	close(s.changeCh)
	s.changeCh = make(chan struct{})
	if sync {
		s.triggerSync()
	}
}

func (s *State) triggerSync() {
	select {
	case s.syncCh <- struct{}{}:
	default:
	}
}

// AddService adds or replaces a service and, with it, checks (see
// AddCheck; their ServiceID is set to the service's). Checks of the service
// already present and not listed are kept. svc.Id must be set.
func (s *State) AddService(svc *pb.Service, checks ...*pb.HealthCheck) error {
	if svc.GetId() == "" {
		return fmt.Errorf("%w: service has no ID", ErrMissingServiceName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc = proto.Clone(svc).(*pb.Service)
	svc.Node = s.cfg.NodeName
	svc.CreateIndex, svc.ModifyIndex = 0, 0
	s.services[svc.Id] = &serviceState{svc: svc, gen: s.nextGen()}
	for _, c := range checks {
		c = proto.Clone(c).(*pb.HealthCheck)
		c.ServiceId = svc.Id
		s.addCheckLocked(c)
	}
	s.changedLocked(true)
	return nil
}

// RemoveService removes a service and its checks; the catalog entries are
// deregistered at the next sync.
func (s *State) RemoveService(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.services[id]
	if ss == nil || ss.deleted {
		return fmt.Errorf("%w: %q", ErrUnknownService, id)
	}
	ss.deleted, ss.inSync, ss.gen = true, false, s.nextGen()
	for _, cs := range s.checks {
		if !cs.deleted && cs.chk.GetServiceId() == id {
			s.deleteCheckLocked(cs)
		}
	}
	s.changedLocked(true)
	return nil
}

// AddCheck adds or replaces a check. A check with a ServiceID needs that
// service (ErrUnknownService otherwise); its ServiceName and ServiceTags are
// taken from it.
func (s *State) AddCheck(chk *pb.HealthCheck) error {
	if chk.GetCheckId() == "" {
		return fmt.Errorf("%w: check has no ID", ErrMissingCheckName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sid := chk.GetServiceId(); sid != "" {
		if ss := s.services[sid]; ss == nil || ss.deleted {
			return fmt.Errorf("%w: ServiceID %q does not exist", ErrUnknownService, sid)
		}
	}
	s.addCheckLocked(proto.Clone(chk).(*pb.HealthCheck))
	s.changedLocked(true)
	return nil
}

func (s *State) addCheckLocked(chk *pb.HealthCheck) {
	chk.Node = s.cfg.NodeName
	chk.CreateIndex, chk.ModifyIndex = 0, 0
	if ss := s.services[chk.ServiceId]; chk.ServiceId != "" && ss != nil {
		chk.ServiceName = ss.svc.GetService()
		chk.ServiceTags = slices.Clone(ss.svc.GetTags())
	}
	if old := s.checks[chk.CheckId]; old != nil && old.deferTimer != nil {
		old.deferTimer.Stop()
	}
	cs := &checkState{chk: chk, gen: s.nextGen()}
	if chk.Status == StatusCritical {
		cs.criticalSince = s.clk.Now()
	}
	s.checks[chk.CheckId] = cs
}

// RemoveCheck removes a check; the catalog entry is deregistered at the
// next sync.
func (s *State) RemoveCheck(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.checks[id]
	if cs == nil || cs.deleted {
		return fmt.Errorf("%w: %q", ErrUnknownCheck, id)
	}
	s.deleteCheckLocked(cs)
	s.changedLocked(true)
	return nil
}

func (s *State) deleteCheckLocked(cs *checkState) {
	cs.deleted, cs.inSync, cs.gen = true, false, s.nextGen()
	if cs.deferTimer != nil {
		cs.deferTimer.Stop()
		cs.deferTimer = nil
	}
}

// UpdateCheck sets the status and output of a check (unknown IDs are
// ignored); callers cap the output (runners and Local.UpdateTTL do). A
// status change is synced at once; an output-only change is
// kept locally and synced after CheckUpdateInterval/2 plus a random part of
// CheckUpdateInterval (at once when the interval is 0).
func (s *State) UpdateCheck(id, status, output string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.checks[id]
	if cs == nil || cs.deleted {
		return
	}
	if status == StatusCritical {
		if cs.criticalSince.IsZero() {
			cs.criticalSince = s.clk.Now()
		}
	} else {
		cs.criticalSince = time.Time{}
	}
	if cs.chk.Status == status && cs.chk.Output == output {
		return
	}
	chk := proto.Clone(cs.chk).(*pb.HealthCheck)
	chk.Output = output
	if d := s.cfg.CheckUpdateInterval; d > 0 && chk.Status == status {
		cs.chk = chk
		if cs.deferTimer == nil && !s.closed {
			cs.deferTimer = s.clk.AfterFunc(d/2+randomStagger(d), func() { s.deferredSync(id, cs) })
		}
		s.changedLocked(false)
		return
	}
	chk.Status = status
	cs.chk = chk
	cs.inSync, cs.gen = false, s.nextGen()
	s.changedLocked(true)
}

// deferredSync marks a check with a deferred output change out of sync.
func (s *State) deferredSync(id string, cs *checkState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checks[id] != cs || cs.deleted || cs.deferTimer == nil {
		return
	}
	cs.deferTimer = nil
	cs.inSync, cs.gen = false, s.nextGen()
	s.triggerSync()
}

// Service returns a copy of the service, nil if it is not registered.
func (s *State) Service(id string) *pb.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.services[id]; ss != nil && !ss.deleted {
		return proto.Clone(ss.svc).(*pb.Service)
	}
	return nil
}

// Services returns copies of the services by ID.
func (s *State) Services() map[string]*pb.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*pb.Service, len(s.services))
	for id, ss := range s.services {
		if !ss.deleted {
			out[id] = proto.Clone(ss.svc).(*pb.Service)
		}
	}
	return out
}

// Check returns a copy of the check, nil if it is not registered.
func (s *State) Check(id string) *pb.HealthCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.checks[id]; cs != nil && !cs.deleted {
		return proto.Clone(cs.chk).(*pb.HealthCheck)
	}
	return nil
}

// Checks returns copies of the checks by ID.
func (s *State) Checks() map[string]*pb.HealthCheck {
	return s.checksWhere(func(*pb.HealthCheck) bool { return true })
}

// ServiceChecks returns copies of the checks of one service by ID
// (serviceID "" selects the node checks).
func (s *State) ServiceChecks(serviceID string) map[string]*pb.HealthCheck {
	return s.checksWhere(func(c *pb.HealthCheck) bool { return c.GetServiceId() == serviceID })
}

func (s *State) checksWhere(keep func(*pb.HealthCheck) bool) map[string]*pb.HealthCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*pb.HealthCheck, len(s.checks))
	for id, cs := range s.checks {
		if !cs.deleted && keep(cs.chk) {
			out[id] = proto.Clone(cs.chk).(*pb.HealthCheck)
		}
	}
	return out
}

// CriticalFor returns how long each critical check has been critical, by
// check ID.
func (s *State) CriticalFor() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	out := map[string]time.Duration{}
	for id, cs := range s.checks {
		if !cs.deleted && !cs.criticalSince.IsZero() {
			out[id] = now.Sub(cs.criticalSince)
		}
	}
	return out
}

// InSync reports whether every service and check (and the node) is known
// to match the catalog.
func (s *State) InSync() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.nodeInfoInSync {
		return false
	}
	for _, ss := range s.services {
		if !ss.inSync {
			return false
		}
	}
	for _, cs := range s.checks {
		if !cs.inSync {
			return false
		}
	}
	return true
}

// Close stops the timers of deferred output syncs; the State stays
// readable. Deferred outputs are still synced by the next full sync.
func (s *State) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, cs := range s.checks {
		if cs.deferTimer != nil {
			cs.deferTimer.Stop()
			cs.deferTimer = nil
			cs.inSync = false
		}
	}
}

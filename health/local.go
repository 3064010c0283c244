package health

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"

	"github.com/meridian-io/meridian/internal/clock"
)

// Deps are the dependencies of Local.
type Deps struct {
	// Catalog is the catalog anti-entropy syncs to. Required.
	Catalog Catalog
	// ClusterSize returns the number of nodes in the datacenter (LAN
	// members); nil counts 1.
	ClusterSize func() int
	// Clock drives every timer; nil is clock.Real.
	Clock clock.Clock
	// Reaped, if set, is told the services the reaper removed (the agent
	// forgets what it kept of them on disk).
	Reaped func(serviceIDs []string)
}

// Local is the agent's health subsystem: its State, the runners of its
// checks, anti-entropy and the reaper of services whose checks stay
// critical past DeregisterCriticalServiceAfter. The agent's HTTP API calls
// its methods; reads go through State.
type Local struct {
	cfg     Config
	clk     clock.Clock
	logger  *slog.Logger
	state   *State
	runners *CheckManager
	syncer  *Syncer

	// mu serialises registrations so the state and the runners agree.
	mu        sync.Mutex
	reapAfter map[string]time.Duration // check ID -> DeregisterCriticalServiceAfter
	reaped    func(serviceIDs []string)

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

// New builds the subsystem. It starts nothing: services and checks may be
// added (for example from config files) before Start.
func New(cfg Config, deps Deps) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Catalog == nil {
		return nil, fmt.Errorf("%w: Catalog is required", ErrInvalidConfig)
	}
	cfg.TaggedAddresses = maps.Clone(cfg.TaggedAddresses)
	cfg.NodeMeta = maps.Clone(cfg.NodeMeta)
	cfg.CheckReapInterval = orDefault(cfg.CheckReapInterval, DefaultCheckReapInterval)
	if cfg.OutputMaxSize == 0 {
		cfg.OutputMaxSize = DefaultOutputMaxSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.Real()
	}
	state := NewState(cfg, clk)
	runners := NewCheckManager(clk, state, cfg.Logger)
	runners.alias = &aliasSources{state: state, node: cfg.NodeName, catalog: deps.Catalog}
	ctx, cancel := context.WithCancel(context.Background())
	return &Local{
		cfg:       cfg,
		clk:       clk,
		logger:    cfg.Logger,
		state:     state,
		runners:   runners,
		syncer:    NewSyncer(cfg, state, deps.Catalog, deps.ClusterSize, clk),
		reapAfter: map[string]time.Duration{},
		reaped:    deps.Reaped,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
	}, nil
}

// State returns the local state (reads, maintenance and sync status).
func (l *Local) State() *State { return l.state }

// Syncer returns the anti-entropy syncer (TriggerFullSync, Pause, Status).
func (l *Local) Syncer() *Syncer { return l.syncer }

// Start starts the check runners, anti-entropy and the reaper.
func (l *Local) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return nil
	}
	if l.ctx.Err() != nil {
		return fmt.Errorf("start: %w", l.ctx.Err())
	}
	l.started = true
	l.runners.Start()
	l.syncer.Start()
	go l.reapLoop()
	return nil
}

// Shutdown stops everything Start started and waits for it. The catalog
// keeps the node's entries (a leaving agent is removed through serf).
func (l *Local) Shutdown() error {
	l.mu.Lock()
	started := l.started
	l.cancel()
	l.mu.Unlock()
	if started {
		<-l.done
	}
	l.syncer.Shutdown()
	l.runners.Stop()
	l.state.Close()
	return nil
}

func (l *Local) buildOptions(svc *pb.Service, src Source) BuildOptions {
	return BuildOptions{
		NodeName:                l.cfg.NodeName,
		Service:                 svc,
		Source:                  src,
		EnableScriptChecks:      l.cfg.EnableScriptChecks,
		EnableLocalScriptChecks: l.cfg.EnableLocalScriptChecks,
		OutputMaxSize:           l.cfg.OutputMaxSize,
	}
}

type builtCheck struct {
	hc   *pb.HealthCheck
	spec *CheckSpec
}

// AddService registers (or replaces) a service with its checks, which get
// Consul's default IDs and names (ServiceCheckDefaults). svc.Service is
// required (ErrMissingServiceName); an empty ID becomes the name and nil
// Weights become {1, 1}. Checks that already exist keep their status and
// output. With replaceExistingChecks, the service's other checks are
// removed (its maintenance check stays). Nothing is applied when a check is
// invalid.
func (l *Local) AddService(svc *pb.Service, defs []CheckDefinition, src Source, replaceExistingChecks bool) error {
	if svc.GetService() == "" {
		return ErrMissingServiceName
	}
	svc = proto.Clone(svc).(*pb.Service)
	if svc.Id == "" {
		svc.Id = svc.Service
	}
	if svc.Weights == nil {
		svc.Weights = &pb.Weights{Passing: 1, Warning: 1}
	}
	var built []builtCheck
	keep := map[string]bool{ServiceMaintenanceCheckID(svc.Id): true}
	for _, def := range ServiceCheckDefaults(svc.Id, svc.Service, defs) {
		hc, spec, err := BuildCheck(def, l.buildOptions(svc, src))
		if err != nil {
			return err
		}
		built = append(built, builtCheck{hc, spec})
		keep[hc.CheckId] = true
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	hcs := make([]*pb.HealthCheck, len(built))
	for i, b := range built {
		if old := l.state.Check(b.hc.CheckId); old != nil {
			b.hc.Status, b.hc.Output = old.Status, old.Output
		}
		hcs[i] = b.hc
	}
	var stale []string
	if replaceExistingChecks {
		for id := range l.state.ServiceChecks(svc.Id) {
			if !keep[id] {
				stale = append(stale, id)
			}
		}
	}
	if err := l.state.AddService(svc, hcs...); err != nil {
		return err
	}
	for _, id := range stale {
		l.removeCheckLocked(id)
	}
	for _, b := range built {
		l.startCheckLocked(b.hc.CheckId, b.spec)
	}
	return nil
}

func (l *Local) startCheckLocked(id string, spec *CheckSpec) {
	if err := l.runners.Add(id, spec); err != nil {
		l.logger.Error("check not started", "check", id, "error", err)
	}
	if spec.DeregisterCriticalServiceAfter > 0 {
		l.reapAfter[id] = spec.DeregisterCriticalServiceAfter
	} else {
		delete(l.reapAfter, id)
	}
}

// RemoveService removes a service and its checks (ErrUnknownService if it
// is not registered).
func (l *Local) RemoveService(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removeServiceLocked(id)
}

func (l *Local) removeServiceLocked(id string) error {
	checks := l.state.ServiceChecks(id)
	if err := l.state.RemoveService(id); err != nil {
		return err
	}
	for cid := range checks {
		l.runners.Remove(cid)
		delete(l.reapAfter, cid)
	}
	return nil
}

// AddCheck registers (or replaces) a check. An empty ID becomes the name; a
// ServiceID must name a registered service (ErrUnknownService).
func (l *Local) AddCheck(def CheckDefinition, src Source) error {
	var svc *pb.Service
	if def.ServiceID != "" {
		if svc = l.state.Service(def.ServiceID); svc == nil {
			return fmt.Errorf("%w: ServiceID %q does not exist", ErrUnknownService, def.ServiceID)
		}
	}
	hc, spec, err := BuildCheck(def, l.buildOptions(svc, src))
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.state.AddCheck(hc); err != nil {
		return err
	}
	l.startCheckLocked(hc.CheckId, spec)
	return nil
}

// RemoveCheck removes a check (ErrUnknownCheck if it is not registered).
func (l *Local) RemoveCheck(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removeCheckLocked(id)
}

func (l *Local) removeCheckLocked(id string) error {
	if err := l.state.RemoveCheck(id); err != nil {
		return err
	}
	l.runners.Remove(id)
	delete(l.reapAfter, id)
	return nil
}

// UpdateTTL sets the status and output of a TTL check and restarts its
// TTL (the /v1/agent/check/pass|warn|fail|update endpoints). Errors:
// ErrInvalidStatus, ErrUnknownCheck, ErrNotTTLCheck.
func (l *Local) UpdateTTL(id, status, output string) error {
	if !ValidStatus(status) {
		return ErrInvalidStatus
	}
	if l.state.Check(id) == nil {
		return fmt.Errorf("%w: Unknown check ID %q. Ensure that the check ID is passed, not the check name.", ErrUnknownCheck, id)
	}
	_, err := l.runners.SetTTLStatus(id, status, output)
	return err
}

// EnableNodeMaintenance puts the node in maintenance (State).
func (l *Local) EnableNodeMaintenance(reason string) { l.state.EnableNodeMaintenance(reason) }

// DisableNodeMaintenance ends the node's maintenance.
func (l *Local) DisableNodeMaintenance() { l.state.DisableNodeMaintenance() }

// EnableServiceMaintenance puts a service in maintenance.
func (l *Local) EnableServiceMaintenance(serviceID, reason string) error {
	return l.state.EnableServiceMaintenance(serviceID, reason)
}

// DisableServiceMaintenance ends a service's maintenance.
func (l *Local) DisableServiceMaintenance(serviceID string) error {
	return l.state.DisableServiceMaintenance(serviceID)
}

func (l *Local) reapLoop() {
	defer close(l.done)
	for {
		fire, timer := clock.After(l.clk, l.cfg.CheckReapInterval)
		select {
		case <-fire:
			if ids := l.Reap(); len(ids) > 0 && l.reaped != nil {
				l.reaped(ids)
			}
		case <-l.ctx.Done():
			timer.Stop()
			return
		}
	}
}

// Reap removes every service with a check that has been critical longer
// than its DeregisterCriticalServiceAfter, and returns their IDs. Start
// runs it every CheckReapInterval.
func (l *Local) Reap() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	critical := l.state.CriticalFor()
	var reaped []string
	for cid, limit := range l.reapAfter {
		d, ok := critical[cid]
		if !ok || d <= limit {
			continue
		}
		chk := l.state.Check(cid)
		if chk == nil || chk.ServiceId == "" {
			continue
		}
		if err := l.removeServiceLocked(chk.ServiceId); err != nil {
			continue // already reaped through another check
		}
		reaped = append(reaped, chk.ServiceId)
		l.logger.Info("check critical for too long; deregistered service",
			"service", chk.ServiceId, "check", cid, "critical_for", d)
	}
	return reaped
}

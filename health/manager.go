package health

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/meridian-io/meridian/internal/clock"
)

// CheckManager owns the runners of the agent's checks: Add starts (or
// replaces) the runner of a check, Remove stops it, and results flow into
// the Notifier (the State). Runners added before Start begin at Start.
type CheckManager struct {
	clk    clock.Clock
	notify Notifier
	logger *slog.Logger
	// alias is what alias checks read (none can run without it).
	alias *aliasSources

	mu      sync.Mutex
	runners map[string]runner
	started bool
	stopped bool
}

// NewCheckManager returns a manager reporting to notify. It starts nothing.
func NewCheckManager(clk clock.Clock, notify Notifier, logger *slog.Logger) *CheckManager {
	if clk == nil {
		clk = clock.Real()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &CheckManager{clk: clk, notify: notify, logger: logger, runners: map[string]runner{}}
}

// Start starts the runners added so far; later ones start as they are
// added.
func (m *CheckManager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.stopped {
		return
	}
	m.started = true
	for _, r := range m.runners {
		r.start()
	}
}

// Add runs the check described by spec under checkID, replacing (and
// stopping) a runner of the same ID.
func (m *CheckManager) Add(checkID string, spec *CheckSpec) error {
	r, err := m.newRunner(checkID, spec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return fmt.Errorf("add check %q: manager stopped", checkID)
	}
	old := m.runners[checkID]
	m.runners[checkID] = r
	started := m.started
	m.mu.Unlock()
	if old != nil {
		old.stop()
	}
	if started {
		r.start()
	}
	return nil
}

func (m *CheckManager) newRunner(checkID string, spec *CheckSpec) (runner, error) {
	logger := m.logger.With("check", checkID)
	var probe probeFunc
	switch spec.Type {
	case TypeTTL:
		return newTTLRunner(checkID, spec, m.clk, m.notify, logger), nil
	case TypeAlias:
		if m.alias == nil {
			return nil, fmt.Errorf("%w: alias checks need the agent's state", ErrInvalidCheck)
		}
		return newAliasRunner(checkID, spec, *m.alias, m.clk, m.notify, logger), nil
	case TypeHTTP:
		probe = newHTTPProbe(spec).check
	case TypeTCP:
		probe = tcpProbe(spec)
	case TypeUDP:
		probe = udpProbe(spec)
	case TypeGRPC:
		probe = grpcProbe(spec)
	case TypeH2Ping:
		probe = h2pingProbe(spec)
	case TypeScript:
		probe = scriptProbe(spec, m.clk)
	default:
		return nil, fmt.Errorf("%w: unsupported check type %q", ErrInvalidCheck, spec.Type)
	}
	return newIntervalRunner(checkID, spec, m.clk, m.notify, logger, probe), nil
}

// Remove stops the runner of checkID and reports whether there was one.
// No result of it is reported after Remove returns.
func (m *CheckManager) Remove(checkID string) bool {
	m.mu.Lock()
	r := m.runners[checkID]
	delete(m.runners, checkID)
	m.mu.Unlock()
	if r == nil {
		return false
	}
	r.stop()
	return true
}

// IsTTL reports whether checkID is run as a TTL check.
func (m *CheckManager) IsTTL(checkID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.runners[checkID].(*ttlRunner)
	return ok
}

// SetTTLStatus sets the status and output of a TTL check and restarts its
// TTL; it returns the output as stored (truncated to the output limit).
// status must be passing, warning or critical.
func (m *CheckManager) SetTTLStatus(checkID, status, output string) (string, error) {
	if !ValidStatus(status) {
		return "", ErrInvalidStatus
	}
	m.mu.Lock()
	r, ok := m.runners[checkID]
	m.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownCheck, checkID)
	}
	ttl, ok := r.(*ttlRunner)
	if !ok {
		return "", fmt.Errorf("%w: CheckID %q does not have associated TTL", ErrNotTTLCheck, checkID)
	}
	return ttl.setStatus(status, output), nil
}

// Stop stops every runner and waits for them.
func (m *CheckManager) Stop() {
	m.mu.Lock()
	m.stopped = true
	runners := m.runners
	m.runners = map[string]runner{}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Go(r.stop)
	}
	wg.Wait()
}

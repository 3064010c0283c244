package health

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
)

// aliasSources are what alias checks read: the local state and node name,
// and the catalog for other nodes.
type aliasSources struct {
	state   *State
	node    string
	catalog Catalog
}

// aliasRunner is an alias check (Consul's): it mirrors the health of a
// service (its checks and its node's) or of a node (its node checks).
// Of the local node it follows the agent's state as it changes; of another
// node it reads the catalog every interval. The status is the worst of the
// checks it mirrors: critical, else warning, else passing (also when there
// are none); a service that is not registered is critical.
type aliasRunner struct {
	loopGoroutine
	checkID string
	spec    *CheckSpec
	src     aliasSources
	clk     clock.Clock
	notify  Notifier
	logger  *slog.Logger
}

func newAliasRunner(checkID string, spec *CheckSpec, src aliasSources, clk clock.Clock, notify Notifier, logger *slog.Logger) *aliasRunner {
	return &aliasRunner{loopGoroutine: newLoopGoroutine(), checkID: checkID, spec: spec, src: src, clk: clk,
		notify: notify, logger: logger}
}

func (r *aliasRunner) local() bool {
	return r.spec.AliasNode == "" || r.spec.AliasNode == r.src.node
}

func (r *aliasRunner) start() { r.begin(r.loop) }

func (r *aliasRunner) loop() {
	var last string
	for {
		var wake <-chan struct{}
		if r.local() {
			// Taken before the read: a change after it wakes the loop.
			wake = r.src.state.Changed()
		}
		status, output, ok := r.read()
		if ok && status+"\x00"+output != last {
			last = status + "\x00" + output
			r.notify.UpdateCheck(r.checkID, status, output)
		}
		if wake == nil {
			fire, timer := clock.After(r.clk, r.spec.Interval)
			select {
			case <-fire:
			case <-r.ctx.Done():
				timer.Stop()
				return
			}
			continue
		}
		select {
		case <-wake:
		case <-r.ctx.Done():
			return
		}
	}
}

// read returns the aliased health; ok is false when the catalog could not
// be read (the status stays as it was).
func (r *aliasRunner) read() (status, output string, ok bool) {
	svc := r.spec.AliasService
	if r.local() {
		if svc != "" && r.src.state.Service(svc) == nil {
			return StatusCritical, fmt.Sprintf("Aliased service %q is not registered on this node", svc), true
		}
		var checks []*pb.HealthCheck
		for _, c := range r.src.state.Checks() {
			checks = append(checks, c)
		}
		status, output = aliasStatus(r.checkID, svc, checks)
		return status, output, true
	}
	ctx, cancel := context.WithTimeout(r.ctx, DefaultTimeout)
	defer cancel()
	node := r.spec.AliasNode
	if svc != "" {
		resp, err := r.src.catalog.NodeServices(ctx, node)
		if err != nil {
			r.logger.Warn("alias check: reading the aliased node's services failed", "node", node, "error", err)
			return "", "", false
		}
		if !hasService(resp, svc) {
			return StatusCritical, fmt.Sprintf("Aliased service %q is not registered on node %q", svc, node), true
		}
	}
	checks, err := r.src.catalog.NodeChecks(ctx, node)
	if err != nil {
		r.logger.Warn("alias check: reading the aliased node's checks failed", "node", node, "error", err)
		return "", "", false
	}
	status, output = aliasStatus(r.checkID, svc, checks)
	return status, output, true
}

func hasService(resp *pb.NodeServicesResponse, id string) bool {
	for _, s := range resp.GetServices() {
		if s.GetId() == id {
			return true
		}
	}
	return false
}

// aliasStatus is the health of service (with the node checks), or of the
// node checks alone when service is empty, among checks; self is left
// out.
func aliasStatus(self, service string, checks []*pb.HealthCheck) (status, output string) {
	status, output = StatusPassing, "No checks found."
	for _, c := range checks {
		if c.GetCheckId() == self || (c.GetServiceId() != "" && c.GetServiceId() != service) {
			continue
		}
		switch c.GetStatus() {
		case StatusCritical:
			return StatusCritical, fmt.Sprintf("Aliased check %q failing: %s", c.GetName(), c.GetOutput())
		case StatusWarning:
			status, output = StatusWarning, fmt.Sprintf("Aliased check %q failing: %s", c.GetName(), c.GetOutput())
		default:
			if status == StatusPassing {
				output = "All checks passing."
			}
		}
	}
	return status, output
}

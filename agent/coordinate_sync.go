package agent

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/store"
)

// Consul's pacing of coordinate updates: every agent sends its own LAN
// coordinate at most every syncCoordinateIntervalMin, slower in large
// datacenters so the servers see about syncCoordinateRateTarget updates a
// second in all, plus a random stagger of up to the interval again.
const (
	syncCoordinateIntervalMin = 15 * time.Second
	syncCoordinateRateTarget  = 64.0
)

// WithCoordinateSync sets the shortest interval at which the agent sends
// its LAN coordinate to the servers (default 15 s; tests shorten it).
func WithCoordinateSync(min time.Duration) Option {
	return func(a *Agent) { a.coordSyncMin = min }
}

// coordinateSyncInterval is the wait before the next update with n
// members in the LAN pool.
func coordinateSyncInterval(min time.Duration, n int) time.Duration {
	interval := max(min, time.Duration(float64(n)/syncCoordinateRateTarget*float64(time.Second)))
	return interval + rand.N(interval+1)
}

// startCoordinateSync sends this agent's LAN coordinate to the servers of
// its datacenter periodically (Consul's sendCoordinate), on a goroutine
// the agent owns, with the agent token (node write on its node). A
// refusal by ACLs is logged as a warning, other failures at debug level;
// each is retried at the next interval.
func (a *Agent) startCoordinateSync() {
	min := a.coordSyncMin
	if min <= 0 {
		min = syncCoordinateIntervalMin
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			timer := time.NewTimer(coordinateSyncInterval(min, a.NumLANMembers()))
			select {
			case <-a.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			if err := a.sendCoordinate(a.ctx); blockedByACLs(err) {
				a.log.Warn("Coordinate update blocked by ACLs", "error", err)
			} else if err != nil {
				a.log.Debug("coordinate update failed", "error", err)
			}
		}
	}()
}

// sendCoordinate sends this agent's current LAN coordinate, if it has a
// valid one.
func (a *Agent) sendCoordinate(ctx context.Context) error {
	c, ok := a.lan.Coordinate(a.cfg.NodeName)
	if !ok {
		return nil
	}
	coord := &pb.Coordinate{Vec: c.Vec, Error: c.Error, Adjustment: c.Adjustment, Height: c.Height}
	if !store.ValidCoordinate(coord) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req := &pb.CoordinateUpdateRequest{Write: &pb.WriteOptions{Token: a.tokens.agent()}, Node: a.cfg.NodeName, Coord: coord}
	return a.backend.RPC(ctx, dc.MethodCoordinateUpdate, req, &pb.CoordinateUpdateResponse{})
}

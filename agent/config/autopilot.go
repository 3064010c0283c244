package config

import (
	"fmt"
	"time"
)

// Autopilot is the autopilot block of a server (Consul's keys): how the
// leader judges server health and cleans up dead servers until an
// operator sets a configuration through the API, which is then stored in
// Raft and wins.
type Autopilot struct {
	CleanupDeadServers      bool
	LastContactThreshold    time.Duration
	MaxTrailingLogs         int
	MinQuorum               int
	ServerStabilizationTime time.Duration
}

// DefaultAutopilot is Consul's default.
func DefaultAutopilot() Autopilot {
	return Autopilot{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond,
		MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second}
}

type partialAutopilot struct {
	CleanupDeadServers      *bool
	LastContactThreshold    *time.Duration
	MaxTrailingLogs         *int
	MinQuorum               *int
	ServerStabilizationTime *time.Duration
}

func (p *partialAutopilot) apply(a *Autopilot) {
	set(&a.CleanupDeadServers, p.CleanupDeadServers)
	set(&a.LastContactThreshold, p.LastContactThreshold)
	set(&a.MaxTrailingLogs, p.MaxTrailingLogs)
	set(&a.MinQuorum, p.MinQuorum)
	set(&a.ServerStabilizationTime, p.ServerStabilizationTime)
}

var autopilotObject = object[partialAutopilot]{
	// Consul's keys for features Meridian does not have.
	unused: keySet("redundancy_zone_tag", "disable_upgrade_migration", "upgrade_version_tag"),
	keys: map[string]keyFunc[partialAutopilot]{
		"cleanup_dead_servers":      opt(toBool, func(p *partialAutopilot) **bool { return &p.CleanupDeadServers }),
		"last_contact_threshold":    opt(toDuration, func(p *partialAutopilot) **time.Duration { return &p.LastContactThreshold }),
		"max_trailing_logs":         opt(toInt, func(p *partialAutopilot) **int { return &p.MaxTrailingLogs }),
		"min_quorum":                opt(toInt, func(p *partialAutopilot) **int { return &p.MinQuorum }),
		"server_stabilization_time": opt(toDuration, func(p *partialAutopilot) **time.Duration { return &p.ServerStabilizationTime }),
	},
}

// validateAutopilot checks the autopilot block.
func validateAutopilot(c *Config) error {
	a := c.Autopilot
	switch {
	case a.LastContactThreshold < 0:
		return fmt.Errorf("autopilot.last_contact_threshold %s is negative", a.LastContactThreshold)
	case a.ServerStabilizationTime < 0:
		return fmt.Errorf("autopilot.server_stabilization_time %s is negative", a.ServerStabilizationTime)
	case a.MaxTrailingLogs < 0:
		return fmt.Errorf("autopilot.max_trailing_logs %d is negative", a.MaxTrailingLogs)
	case a.MinQuorum < 0:
		return fmt.Errorf("autopilot.min_quorum %d is negative", a.MinQuorum)
	}
	return nil
}

package health

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the local state (Consul's values).
const (
	// DefaultCheckUpdateInterval defers output-only check changes.
	DefaultCheckUpdateInterval = 5 * time.Minute
	// DefaultCheckReapInterval is the period of the deregister-critical
	// reaper.
	DefaultCheckReapInterval = 30 * time.Second
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid health config")

// Config configures the agent's health subsystem. Start from
// DefaultConfig.
type Config struct {
	// NodeName is this agent's node in the catalog. Required.
	NodeName string
	// NodeID, Datacenter, Address, TaggedAddresses and NodeMeta describe the
	// node as anti-entropy registers it.
	NodeID          string
	Datacenter      string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string

	// AEInterval is the base period of full syncs (scaled by cluster size).
	AEInterval time.Duration
	// AERetryInterval is the wait before retrying a failed sync.
	AERetryInterval time.Duration
	// AEServerUpInterval staggers a full sync asked for by TriggerFullSync.
	AEServerUpInterval time.Duration

	// CheckUpdateInterval defers syncing output-only check changes; 0
	// syncs every change at once.
	CheckUpdateInterval time.Duration
	// CheckReapInterval is how often services whose checks have been
	// critical longer than their DeregisterCriticalServiceAfter are removed.
	CheckReapInterval time.Duration
	// OutputMaxSize caps check output in bytes.
	OutputMaxSize int

	// EnableScriptChecks allows script checks from any source (API
	// included: anyone who can reach the API can then run commands).
	EnableScriptChecks bool
	// EnableLocalScriptChecks allows script checks from config files only.
	EnableLocalScriptChecks bool

	// Logger receives the subsystem's logs (discarded when nil).
	Logger *slog.Logger
}

// DefaultConfig returns Consul's defaults; NodeName (and the other node
// fields) are left for the caller.
func DefaultConfig() Config {
	return Config{
		AEInterval:          DefaultAEInterval,
		AERetryInterval:     DefaultAERetryInterval,
		AEServerUpInterval:  DefaultAEServerUpInterval,
		CheckUpdateInterval: DefaultCheckUpdateInterval,
		CheckReapInterval:   DefaultCheckReapInterval,
		OutputMaxSize:       DefaultOutputMaxSize,
	}
}

// Validate reports the first problem of c.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%w: NodeName is required", ErrInvalidConfig)
	case c.AEInterval < 0, c.AERetryInterval < 0, c.AEServerUpInterval < 0:
		return fmt.Errorf("%w: anti-entropy intervals must not be negative", ErrInvalidConfig)
	case c.CheckUpdateInterval < 0:
		return fmt.Errorf("%w: CheckUpdateInterval must not be negative", ErrInvalidConfig)
	case c.CheckReapInterval < 0:
		return fmt.Errorf("%w: CheckReapInterval must not be negative", ErrInvalidConfig)
	case c.OutputMaxSize < 0:
		return fmt.Errorf("%w: OutputMaxSize must not be negative", ErrInvalidConfig)
	}
	return nil
}

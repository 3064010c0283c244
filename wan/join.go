package wan

import (
	"time"

	"github.com/meridian-io/meridian/internal/serfpool"
)

// Join errors (the LAN pool's are the same).
var (
	ErrBadAddress         = serfpool.ErrBadAddress
	ErrNoAddresses        = serfpool.ErrNoAddresses
	ErrRetryJoinExhausted = serfpool.ErrRetryJoinExhausted
)

// Join contacts the given servers' WAN addresses ("host" or "host:port",
// default port 8302; IPv6 as "[::1]:8302" or "::1") and merges their view
// of the pool (-join-wan, /v1/agent/join/<addr>?wan=1). It returns how many
// it reached; the error is nil if at least one was reached. A member that
// is not a WAN server (a LAN address, a client agent) is refused and the
// error's text says why.
func (p *Pool) Join(addrs []string) (int, error) { return p.core.Join(addrs) }

// RetryJoin keeps trying Join(addrs) every interval (30s if <= 0, Consul's
// -retry-interval-wan default) in a goroutine the pool owns, until one
// attempt reaches someone, maxAttempts attempts failed (<= 0: no limit), or
// the pool shuts down. Failures are logged. The returned channel receives
// the outcome once: nil on success, an error wrapping
// ErrRetryJoinExhausted, ErrShutdown, ErrNotStarted or ErrBadAddress
// otherwise.
func (p *Pool) RetryJoin(addrs []string, interval time.Duration, maxAttempts int) <-chan error {
	return p.core.RetryJoin(addrs, interval, maxAttempts)
}

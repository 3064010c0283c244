package lan

import (
	"time"

	"github.com/meridian-io/meridian/internal/serfpool"
)

// Join errors (the WAN pool's are the same).
var (
	ErrBadAddress         = serfpool.ErrBadAddress
	ErrNoAddresses        = serfpool.ErrNoAddresses
	ErrRetryJoinExhausted = serfpool.ErrRetryJoinExhausted
)

// Join contacts the given agents ("host" or "host:port", default port 8301;
// IPv6 as "[::1]:8301" or "::1") and merges their view of the pool. It
// returns how many it reached; the error is nil if at least one was reached.
// Old user events of the joined pool are not replayed.
func (p *Pool) Join(addrs []string) (int, error) { return p.core.Join(addrs) }

// RetryJoin keeps trying Join(addrs) every interval (30s if <= 0) in a
// goroutine the pool owns, until one attempt reaches someone, maxAttempts
// attempts failed (<= 0: no limit), or the pool shuts down. Failures are logged.
// The returned channel receives the outcome once: nil on success, an error
// wrapping ErrRetryJoinExhausted, ErrShutdown, ErrNotStarted or
// ErrBadAddress otherwise.
func (p *Pool) RetryJoin(addrs []string, interval time.Duration, maxAttempts int) <-chan error {
	return p.core.RetryJoin(addrs, interval, maxAttempts)
}

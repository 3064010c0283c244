package wan

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Join errors.
var (
	ErrBadAddress         = errors.New("bad join address")
	ErrNoAddresses        = errors.New("no join addresses")
	ErrRetryJoinExhausted = errors.New("retry join gave up")
)

// defaultRetryInterval is RetryJoin's interval when none is given (Consul's
// -retry-interval-wan default).
const defaultRetryInterval = 30 * time.Second

// Join contacts the given servers' WAN addresses ("host" or "host:port",
// default port 8302; IPv6 as "[::1]:8302" or "::1") and merges their view
// of the pool (-join-wan, /v1/agent/join/<addr>?wan=1). It returns how many
// it reached; the error is nil if at least one was reached. A member that
// is not a WAN server (a LAN address, a client agent) is refused and the
// error's text says why.
func (p *Pool) Join(addrs []string) (int, error) {
	s, err := p.running()
	if err != nil {
		return 0, err
	}
	norm, err := normalizeAddrs(addrs)
	if err != nil {
		return 0, err
	}
	n, err := s.Join(norm, true)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("join %s: %w", strings.Join(norm, ","), flatten(err))
	}
	p.logger.Info("joined wan pool", "contacted", n, "addrs", norm)
	return n, nil
}

// RetryJoin keeps trying Join(addrs) every interval (30s if <= 0) in a
// goroutine the pool owns, until one attempt reaches someone, maxAttempts
// attempts failed (<= 0: no limit), or the pool shuts down. Failures are logged.
// The returned channel receives the outcome once: nil on success, an error
// wrapping ErrRetryJoinExhausted, ErrShutdown, ErrNotStarted or
// ErrBadAddress otherwise.
func (p *Pool) RetryJoin(addrs []string, interval time.Duration, maxAttempts int) <-chan error {
	result := make(chan error, 1)
	if _, err := p.running(); err != nil {
		result <- err
		return result
	}
	if _, err := normalizeAddrs(addrs); err != nil {
		result <- err
		return result
	}
	if interval <= 0 {
		interval = defaultRetryInterval
	}
	addrs = append([]string(nil), addrs...)
	if !p.goFunc(func() { result <- p.retryJoin(addrs, interval, maxAttempts) }) {
		result <- ErrShutdown
	}
	return result
}

// retryJoin is RetryJoin's loop.
func (p *Pool) retryJoin(addrs []string, interval time.Duration, maxAttempts int) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-p.stopCh:
			return ErrShutdown
		case <-timer.C:
		}
		n, err := p.Join(addrs)
		if err == nil {
			p.logger.Info("retry join succeeded", "attempt", attempt, "contacted", n)
			return nil
		}
		if errors.Is(err, ErrShutdown) {
			return err
		}
		if maxAttempts > 0 && attempt >= maxAttempts {
			p.logger.Error("retry join gave up", "attempts", attempt, "error", err)
			return fmt.Errorf("%w after %d attempts: %w", ErrRetryJoinExhausted, attempt, err)
		}
		p.logger.Warn("retry join failed", "attempt", attempt, "retry_in", interval, "error", err)
		timer.Reset(interval)
	}
}

// normalizeAddrs checks and completes every address.
func normalizeAddrs(addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, ErrNoAddresses
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		n, err := normalizeAddr(a)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// normalizeAddr turns "host", "host:port", "ip6", "[ip6]" or "[ip6]:port"
// into "host:port", adding DefaultPort.
func normalizeAddr(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrBadAddress, addr, why)
	}
	if a == "" {
		return bad("empty")
	}
	if host, port, err := net.SplitHostPort(a); err == nil {
		if host == "" {
			return bad("no host")
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("port must be 1-65535")
		}
		return net.JoinHostPort(host, port), nil
	}
	host := a
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return bad("malformed host")
	}
	if host == "" {
		return bad("no host")
	}
	return net.JoinHostPort(host, strconv.Itoa(DefaultPort)), nil
}

// flatten turns memberlist's multi-line multierror into a one-line error
// that still unwraps to the individual errors.
func flatten(err error) error {
	multi, ok := err.(interface{ WrappedErrors() []error })
	if !ok {
		return err
	}
	errs := multi.WrappedErrors()
	if len(errs) == 1 {
		return errs[0]
	}
	return joinedError(errs)
}

// joinedError is errors.Join on one line.
type joinedError []error

func (e joinedError) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e joinedError) Unwrap() []error { return e }

package serfpool

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Join errors, the same for every kind of pool.
var (
	ErrBadAddress         = errors.New("bad join address")
	ErrNoAddresses        = errors.New("no join addresses")
	ErrRetryJoinExhausted = errors.New("retry join gave up")
)

// DefaultRetryInterval is RetryJoin's interval when none is given (Consul's
// -retry-interval and -retry-interval-wan default).
const DefaultRetryInterval = 30 * time.Second

// Join contacts the given addresses ("host" or "host:port", default
// JoinPort; IPv6 as "[::1]:port" or "::1") and merges their view of the
// pool. It returns how many it reached; the error is nil if at least one
// was reached. Old user events of the joined pool are not replayed.
func (p *Pool) Join(addrs []string) (int, error) {
	s, err := p.Serf()
	if err != nil {
		return 0, err
	}
	norm, err := normalizeAddrs(addrs, p.cfg.JoinPort)
	if err != nil {
		return 0, err
	}
	n, err := s.Join(norm, true)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("join %s: %w", strings.Join(norm, ","), flatten(err))
	}
	p.logger.Info("joined "+p.cfg.Kind+" pool", "contacted", n, "addrs", norm)
	return n, nil
}

// RetryJoin keeps trying Join(addrs) every interval (DefaultRetryInterval
// if <= 0) in a goroutine the pool owns, until one attempt reaches someone,
// maxAttempts attempts failed (<= 0: no limit), or the pool shuts down.
// Failures are logged. The returned channel receives the outcome once: nil
// on success, an error wrapping ErrRetryJoinExhausted, the Shutdown or
// NotStarted error, or ErrBadAddress otherwise.
func (p *Pool) RetryJoin(addrs []string, interval time.Duration, maxAttempts int) <-chan error {
	result := make(chan error, 1)
	if _, err := p.Serf(); err != nil {
		result <- err
		return result
	}
	if _, err := normalizeAddrs(addrs, p.cfg.JoinPort); err != nil {
		result <- err
		return result
	}
	if interval <= 0 {
		interval = DefaultRetryInterval
	}
	addrs = append([]string(nil), addrs...)
	if !p.goFunc(func() { result <- p.retryJoin(addrs, interval, maxAttempts) }) {
		result <- p.cfg.Errors.Shutdown
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
			return p.cfg.Errors.Shutdown
		case <-timer.C:
		}
		n, err := p.Join(addrs)
		if err == nil {
			p.logger.Info("retry join succeeded", "attempt", attempt, "contacted", n)
			return nil
		}
		if errors.Is(err, p.cfg.Errors.Shutdown) {
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
func normalizeAddrs(addrs []string, defaultPort int) ([]string, error) {
	if len(addrs) == 0 {
		return nil, ErrNoAddresses
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		n, err := normalizeAddr(a, defaultPort)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// normalizeAddr turns "host", "host:port", "ip6", "[ip6]" or "[ip6]:port"
// into "host:port", adding defaultPort.
func normalizeAddr(addr string, defaultPort int) (string, error) {
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
	return net.JoinHostPort(host, strconv.Itoa(defaultPort)), nil
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

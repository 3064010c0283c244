package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync"
	"time"
)

// Magic flags of the coordination key, the values of Consul's api.Lock and
// api.Semaphore, so a lock and a semaphore on the same prefix (meridian's
// or Consul's) refuse each other.
const (
	lockFlagValue      uint64 = 0x2ddccbc058a50c18
	semaphoreFlagValue uint64 = 0xe0f69a2baa414de0
	lockKeyName               = ".lock"
)

var (
	errLockConflict      = errors.New("Existing key does not match lock use")
	errSemaphoreConflict = errors.New("Existing key does not match semaphore use")
	errLockInUse         = errors.New("lock in use")
)

// lockTiming holds the periods of `meridian lock`; tests shorten them.
type lockTiming struct {
	sessionTTL   time.Duration // TTL of the lock's session
	renewEvery   time.Duration // 0: sessionTTL/2 (or half the TTL the server hands back)
	wait         time.Duration // longest wait of one blocking read
	retry        time.Duration // pause after a refused acquire (lock-delay)
	monitorPause time.Duration // pause between monitor retries
	killGrace    time.Duration // SIGTERM to SIGKILL
}

func defaultLockTiming() lockTiming {
	return lockTiming{
		sessionTTL:   15 * time.Second,
		wait:         15 * time.Second,
		retry:        5 * time.Second,
		monitorPause: time.Second,
		killGrace:    5 * time.Second,
	}
}

// locker is a lock (limit 1) or a semaphore (limit > 1) held through a
// session of its own.
type locker interface {
	// acquire creates the session and blocks until the lock is held, ctx
	// ends or an error occurs. lost is closed if the lock is lost later.
	acquire(ctx context.Context) (lost <-chan struct{}, err error)
	// release gives the lock up, removes the coordination key if nobody
	// uses it, and destroys the session. It is safe after a failed acquire.
	release(ctx context.Context) error
}

// lockSession is the session of one `meridian lock` run and the goroutines
// that renew it and watch the lock.
type lockSession struct {
	c        *apiClient
	t        lockTiming
	name     string
	behavior string
	verbose  func(format string, args ...any)
	maxRetry int // monitor: tolerated failed reads in a row

	id     string
	bg     context.Context // of the renewer and the monitor; ends in destroy
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *lockSession) create(ctx context.Context) error {
	// No Checks: the agent binds the session to its node's serfHealth, and
	// the default lock-delay (15s) applies, as for Consul's api.Lock.
	body, _ := json.Marshal(map[string]string{
		"Name": s.name, "TTL": s.t.sessionTTL.String(), "Behavior": s.behavior,
	})
	out, err := s.c.send(ctx, apiRequest{method: http.MethodPut, path: "/v1/session/create", body: body})
	if err != nil {
		return fmt.Errorf("failed to create session: %w", err)
	}
	var created struct{ ID string }
	if err := json.Unmarshal(out, &created); err != nil || created.ID == "" {
		return fmt.Errorf("failed to create session: unexpected response %q", oneLine(string(out)))
	}
	s.id = created.ID
	s.bg, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.renew(s.bg)
	}()
	return nil
}

// renew renews the session every half TTL until ctx ends or the session
// is gone; failed renewals are retried at the next tick.
func (s *lockSession) renew(ctx context.Context) {
	every := s.t.renewEvery
	if every <= 0 {
		every = s.t.sessionTTL / 2
	}
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		out, err := s.c.send(ctx, apiRequest{method: http.MethodPut, path: "/v1/session/renew/" + s.id})
		switch {
		case isNotFound(err):
			s.verbose("Session %s expired", s.id)
			return
		case err != nil:
			if ctx.Err() == nil {
				s.verbose("Session renewal failed: %v", err)
			}
		case s.t.renewEvery <= 0:
			var entries []struct{ TTL string }
			if json.Unmarshal(out, &entries) == nil && len(entries) == 1 {
				if ttl, err := time.ParseDuration(entries[0].TTL); err == nil && ttl > 0 {
					every = ttl / 2 // the server may ask for fewer renewals
				}
			}
		}
		timer.Reset(every)
	}
}

// monitor runs check (a blocking read that reports whether the lock is
// still ours) in a goroutine until it says no, fails more than maxRetry
// times in a row, or the session is stopped; then it closes lost.
func (s *lockSession) monitor(check func(ctx context.Context, index uint64) (held bool, next uint64, err error)) <-chan struct{} {
	lost := make(chan struct{})
	ctx := s.bg
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(lost)
		var index uint64
		retries := s.maxRetry
		for ctx.Err() == nil {
			held, next, err := check(ctx, index)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if retries > 0 && retryable(err) {
					retries--
					s.verbose("Monitoring the lock failed, retrying: %v", err)
					index = 0
					if !sleepCtx(ctx, s.t.monitorPause) {
						return
					}
					continue
				}
				s.verbose("Monitoring the lock failed: %v", err)
				return
			}
			if !held {
				return
			}
			retries = s.maxRetry
			index = next
		}
	}()
	return lost
}

// stop stops the renewer and the monitor and waits for them.
func (s *lockSession) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// destroy stops the session's goroutines and destroys the session.
func (s *lockSession) destroy(ctx context.Context) error {
	s.stop()
	if s.id == "" {
		return nil
	}
	_, err := s.c.send(ctx, apiRequest{method: http.MethodPut, path: "/v1/session/destroy/" + s.id})
	if err != nil {
		return fmt.Errorf("failed to destroy session: %w", err)
	}
	s.id = ""
	return nil
}

// retryable reports whether a monitor read may be retried: a 500 or a
// transport failure, as Consul's api.IsRetryableError.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code == http.StatusInternalServerError
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// kvRead reads key (with q: recurse, consistent, index, wait) and returns
// its entries (none for a 404) and the X-Consul-Index of the answer.
func (c *apiClient) kvRead(ctx context.Context, key string, q url.Values) ([]kvPair, uint64, error) {
	u := c.base
	u.Path = c.base.Path + kvPath(key)
	if c.dc != "" {
		q.Set("dc", c.dc)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, 0, &statusError{code: resp.StatusCode, body: oneLine(string(msg))}
	}
	index, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("read of %s: missing or bad X-Consul-Index", key)
	}
	var pairs []kvPair
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(&pairs); err != nil {
			return nil, 0, fmt.Errorf("decode read of %s: %w", key, err)
		}
	}
	return pairs, index, nil
}

// blockingQuery is the query of a blocking read from index.
func blockingQuery(index uint64, wait time.Duration, consistent bool) url.Values {
	q := url.Values{}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", strconv.FormatInt(wait.Milliseconds(), 10)+"ms")
	}
	if consistent {
		q.Set("consistent", "")
	}
	return q
}

// kvWrite performs a PUT or DELETE of key with q and reports the API's
// true/false answer.
func (c *apiClient) kvWrite(ctx context.Context, method, key string, q url.Values, value []byte) (bool, error) {
	return c.writeBool(ctx, apiRequest{method: method, path: kvPath(key), query: q, body: value})
}

func flagsQuery(flags uint64, kv ...string) url.Values {
	q := url.Values{"flags": {strconv.FormatUint(flags, 10)}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func lockKey(prefix string) string { return path.Join(prefix, lockKeyName) }

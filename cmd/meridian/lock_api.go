package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// lockTiming holds the periods of `meridian lock`; tests shorten them.
type lockTiming struct {
	sessionTTL   time.Duration // TTL of the lock's session
	renewEvery   time.Duration // 0: half the TTL the agent hands back
	wait         time.Duration // longest wait of one blocking read (acquiring and monitoring)
	monitorPause time.Duration // pause between monitor retries
	killGrace    time.Duration // SIGTERM to SIGKILL
}

func defaultLockTiming() lockTiming {
	return lockTiming{
		sessionTTL:   15 * time.Second,
		wait:         api.DefaultLockWaitTime,
		monitorPause: time.Second,
		killGrace:    5 * time.Second,
	}
}

// locker is the official client's api.Lock (limit 1) or api.Semaphore
// (limit > 1), both held through our own session.
type locker interface {
	// acquire blocks until the lock is held (lost is closed if it is lost
	// later), stop is closed (nil, nil) or an error occurs.
	acquire(stop <-chan struct{}) (lost <-chan struct{}, err error)
	// release gives the lock up.
	release() error
	// cleanup deletes the coordination key if nobody uses it; inUse
	// reports that somebody does.
	cleanup() (inUse bool, err error)
}

type apiMutex struct{ l *api.Lock }

func (m apiMutex) acquire(stop <-chan struct{}) (<-chan struct{}, error) { return m.l.Lock(stop) }
func (m apiMutex) release() error                                        { return m.l.Unlock() }
func (m apiMutex) cleanup() (bool, error) {
	err := m.l.Destroy()
	if errors.Is(err, api.ErrLockInUse) {
		return true, nil
	}
	return false, err
}

type apiSemaphore struct{ s *api.Semaphore }

func (m apiSemaphore) acquire(stop <-chan struct{}) (<-chan struct{}, error) {
	return m.s.Acquire(stop)
}
func (m apiSemaphore) release() error { return m.s.Release() }
func (m apiSemaphore) cleanup() (bool, error) {
	err := m.s.Destroy()
	if errors.Is(err, api.ErrSemaphoreInUse) {
		return true, nil
	}
	return false, err
}

// lockSession is the session of one `meridian lock` run, created and
// renewed by the command itself (not by api.Lock) so that the renewing
// goroutine has an owner that stops it and waits for it.
type lockSession struct {
	c       *agentClient
	t       lockTiming
	verbose func(format string, args ...any)

	id     string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// create creates the session (bound to the agent's serfHealth, with the
// default lock-delay, as api.Lock's own) and starts renewing it.
func (s *lockSession) create(ctx context.Context, name, behavior string) error {
	id, _, err := s.c.Session().Create(&api.SessionEntry{
		Name: name, TTL: s.t.sessionTTL.String(), Behavior: behavior,
	}, s.c.write(ctx))
	if err != nil {
		return fmt.Errorf("failed to create session: %w", err)
	}
	s.id = id
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.renew(bg)
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
		entry, _, err := s.c.Session().Renew(s.id, s.c.write(ctx))
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.verbose("Session renewal failed: %v", err)
			}
		case entry == nil:
			s.verbose("Session %s expired", s.id)
			return
		case s.t.renewEvery <= 0:
			if ttl, err := time.ParseDuration(entry.TTL); err == nil && ttl > 0 {
				every = ttl / 2 // the agent may ask for fewer renewals
			}
		}
		timer.Reset(every)
	}
}

// destroy stops renewing and destroys the session.
func (s *lockSession) destroy(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.id == "" {
		return nil
	}
	if _, err := s.c.Session().Destroy(s.id, s.c.write(ctx)); err != nil {
		return fmt.Errorf("failed to destroy session: %w", err)
	}
	s.id = ""
	return nil
}

// abortableClient is a client like c whose requests, in flight or new,
// fail at once after ctx ends. api.Lock and api.Semaphore take a stop
// channel but look at it only between blocking reads; through this client
// an interrupted acquisition ends at once instead of after its read.
// wait, when not zero, bounds every blocking read (the monitor's too).
func (c *agentClient) abortableClient(ctx context.Context, wait time.Duration) (*api.Client, error) {
	cfg := c.config
	cfg.HttpClient = &http.Client{Transport: abortTransport{base: c.config.HttpClient.Transport, ctx: ctx}}
	cfg.WaitTime = wait
	return api.NewClient(&cfg)
}

// abortTransport cancels the requests it carries when ctx ends.
type abortTransport struct {
	base http.RoundTripper
	ctx  context.Context
}

func (t abortTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

// releasingBody runs release once when closed.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

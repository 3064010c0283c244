package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// mutex is the lock of `meridian lock -n 1`, Consul's api.Lock algorithm:
// the key <prefix>/.lock acquired with the session and flagged with
// lockFlagValue; while another session holds it, blocking reads wait for
// it to be released.
type mutex struct {
	s    *lockSession
	key  string
	held bool
}

func (m *mutex) acquire(ctx context.Context) (<-chan struct{}, error) {
	if err := m.s.create(ctx); err != nil {
		return nil, err
	}
	c, t := m.s.c, m.s.t
	var index uint64
	for {
		pairs, next, err := c.kvRead(ctx, m.key, blockingQuery(index, t.wait, false))
		if err != nil {
			return nil, fmt.Errorf("failed to read lock: %w", err)
		}
		if len(pairs) > 0 {
			if pairs[0].Flags != lockFlagValue {
				return nil, errLockConflict
			}
			if pairs[0].Session != "" {
				index = next // held by another session: wait for a change
				continue
			}
		}
		ok, err := c.kvWrite(ctx, http.MethodPut, m.key, flagsQuery(lockFlagValue, "acquire", m.s.id), nil)
		if err != nil {
			return nil, fmt.Errorf("failed to acquire lock: %w", err)
		}
		if !ok {
			// Free but refused: the lock-delay of a lost holder is running.
			m.s.verbose("Lock acquisition refused, retrying in %v", t.retry)
			if !sleepCtx(ctx, t.retry) {
				return nil, ctx.Err()
			}
			continue
		}
		m.held = true
		return m.s.monitor(m.check), nil
	}
}

// check is one consistent blocking read of the lock key: is it still held
// by our session?
func (m *mutex) check(ctx context.Context, index uint64) (bool, uint64, error) {
	pairs, next, err := m.s.c.kvRead(ctx, m.key, blockingQuery(index, m.s.t.wait, true))
	if err != nil {
		return false, 0, err
	}
	return len(pairs) > 0 && pairs[0].Session == m.s.id, next, nil
}

func (m *mutex) release(ctx context.Context) error {
	m.s.stop()
	var errs []error
	if m.held {
		m.held = false
		c := m.s.c
		if _, err := c.kvWrite(ctx, http.MethodPut, m.key, flagsQuery(lockFlagValue, "release", m.s.id), nil); err != nil {
			errs = append(errs, fmt.Errorf("failed to release lock: %w", err))
		} else if err := m.cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.s.destroy(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanup deletes the lock key unless another session holds it (Consul's
// Lock.Destroy).
func (m *mutex) cleanup(ctx context.Context) error {
	c := m.s.c
	pairs, _, err := c.kvRead(ctx, m.key, url.Values{})
	switch {
	case err != nil:
		return fmt.Errorf("failed to read lock: %w", err)
	case len(pairs) == 0:
		return nil
	case pairs[0].Flags != lockFlagValue:
		return errLockConflict
	case pairs[0].Session != "":
		m.s.verbose("Cleanup aborted, lock in use")
		return nil
	}
	cas := url.Values{"cas": {strconv.FormatUint(pairs[0].ModifyIndex, 10)}}
	ok, err := c.kvWrite(ctx, http.MethodDelete, m.key, cas, nil)
	switch {
	case err != nil:
		return fmt.Errorf("failed to remove lock: %w", err)
	case !ok:
		m.s.verbose("Cleanup aborted, lock in use")
	default:
		m.s.verbose("Cleanup succeeded")
	}
	return nil
}

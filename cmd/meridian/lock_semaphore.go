package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
)

// semaphore is the lock of `meridian lock -n N` (N > 1), Consul's
// api.Semaphore algorithm: each contender acquires <prefix>/<session> with
// its own session, and the holders are listed in the coordination key
// <prefix>/.lock as {"Limit":N,"Holders":{"<session>":true}}, updated by
// check-and-set. Holders whose contender key is gone (session invalidated)
// are pruned by whoever updates the coordination key next.
type semaphore struct {
	s         *lockSession
	prefix    string // cleaned, without a trailing slash
	limit     int
	contender bool // the contender key was written
	held      bool
}

// semaphoreLock is the value of the coordination key.
type semaphoreLock struct {
	Limit   int
	Holders map[string]bool
}

func (m *semaphore) contenderKey() string { return path.Join(m.prefix, m.s.id) }
func (m *semaphore) listPrefix() string   { return m.prefix + "/" }

func (m *semaphore) acquire(ctx context.Context) (<-chan struct{}, error) {
	if err := m.s.create(ctx); err != nil {
		return nil, err
	}
	c, t := m.s.c, m.s.t
	ok, err := c.kvWrite(ctx, http.MethodPut, m.contenderKey(), flagsQuery(semaphoreFlagValue, "acquire", m.s.id), nil)
	if err != nil || !ok {
		return nil, fmt.Errorf("failed to make contender entry: %v", errOr(err, "refused"))
	}
	m.contender = true
	var index uint64
	for {
		q := blockingQuery(index, t.wait, false)
		q.Set("recurse", "")
		pairs, next, err := c.kvRead(ctx, m.listPrefix(), q)
		if err != nil {
			return nil, fmt.Errorf("failed to read prefix: %w", err)
		}
		lockPair := m.findLock(pairs)
		if lockPair.Flags != semaphoreFlagValue {
			return nil, errSemaphoreConflict
		}
		lock, err := m.decodeLock(lockPair)
		if err != nil {
			return nil, err
		}
		if lock.Limit != m.limit {
			return nil, fmt.Errorf("semaphore limit conflict (lock: %d, local: %d)", lock.Limit, m.limit)
		}
		pruneDeadHolders(lock, pairs)
		if len(lock.Holders) >= lock.Limit {
			index = next // full: wait for a change under the prefix
			continue
		}
		lock.Holders[m.s.id] = true
		ok, err := m.writeLock(ctx, lock, lockPair.ModifyIndex)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // another contender updated it first: read again
		}
		m.held = true
		return m.s.monitor(m.check), nil
	}
}

// check is one consistent blocking read of the prefix: are we still a
// holder?
func (m *semaphore) check(ctx context.Context, index uint64) (bool, uint64, error) {
	q := blockingQuery(index, m.s.t.wait, true)
	q.Set("recurse", "")
	pairs, next, err := m.s.c.kvRead(ctx, m.listPrefix(), q)
	if err != nil {
		return false, 0, err
	}
	lock, err := m.decodeLock(m.findLock(pairs))
	if err != nil {
		return false, 0, err
	}
	pruneDeadHolders(lock, pairs)
	return lock.Holders[m.s.id], next, nil
}

func (m *semaphore) release(ctx context.Context) error {
	m.s.stop()
	var errs []error
	wasHeld := m.held
	if m.held {
		m.held = false
		if err := m.leave(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.contender {
		m.contender = false
		if _, err := m.s.c.kvWrite(ctx, http.MethodDelete, m.contenderKey(), url.Values{}, nil); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove contender entry: %w", err))
		}
	}
	if wasHeld && len(errs) == 0 {
		if err := m.cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.s.destroy(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leave removes our session from the holders, retrying the check-and-set
// until it applies or ctx ends.
func (m *semaphore) leave(ctx context.Context) error {
	key := lockKey(m.prefix)
	for ctx.Err() == nil {
		pairs, _, err := m.s.c.kvRead(ctx, key, url.Values{})
		if err != nil {
			return fmt.Errorf("failed to read lock: %w", err)
		}
		pair := kvPair{Flags: semaphoreFlagValue}
		if len(pairs) > 0 {
			pair = pairs[0]
		}
		lock, err := m.decodeLock(pair)
		if err != nil {
			return err
		}
		if !lock.Holders[m.s.id] {
			return nil
		}
		delete(lock.Holders, m.s.id)
		ok, err := m.writeLock(ctx, lock, pair.ModifyIndex)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("failed to update lock: %w", ctx.Err())
}

// cleanup deletes the coordination key when nobody holds the semaphore
// (Consul's Semaphore.Destroy).
func (m *semaphore) cleanup(ctx context.Context) error {
	pairs, _, err := m.s.c.kvRead(ctx, m.listPrefix(), url.Values{"recurse": {""}})
	if err != nil {
		return fmt.Errorf("failed to read prefix: %w", err)
	}
	lockPair := m.findLock(pairs)
	if lockPair.ModifyIndex == 0 {
		return nil
	}
	if lockPair.Flags != semaphoreFlagValue {
		return errSemaphoreConflict
	}
	lock, err := m.decodeLock(lockPair)
	if err != nil {
		return err
	}
	pruneDeadHolders(lock, pairs)
	if len(lock.Holders) > 0 {
		m.s.verbose("Cleanup aborted, semaphore in use")
		return nil
	}
	cas := url.Values{"cas": {strconv.FormatUint(lockPair.ModifyIndex, 10)}}
	ok, err := m.s.c.kvWrite(ctx, http.MethodDelete, lockKey(m.prefix), cas, nil)
	switch {
	case err != nil:
		return fmt.Errorf("failed to remove semaphore: %w", err)
	case !ok:
		m.s.verbose("Cleanup aborted, semaphore in use")
	default:
		m.s.verbose("Cleanup succeeded")
	}
	return nil
}

// writeLock stores lock in the coordination key if its ModifyIndex is
// still modifyIndex (0: if it does not exist).
func (m *semaphore) writeLock(ctx context.Context, lock *semaphoreLock, modifyIndex uint64) (bool, error) {
	body, err := json.Marshal(lock)
	if err != nil {
		return false, fmt.Errorf("lock encoding failed: %w", err)
	}
	q := flagsQuery(semaphoreFlagValue, "cas", strconv.FormatUint(modifyIndex, 10))
	ok, err := m.s.c.kvWrite(ctx, http.MethodPut, lockKey(m.prefix), q, body)
	if err != nil {
		return false, fmt.Errorf("failed to update lock: %w", err)
	}
	return ok, nil
}

// findLock returns the coordination key among pairs, or an empty one.
func (m *semaphore) findLock(pairs []kvPair) kvPair {
	key := lockKey(m.prefix)
	for _, p := range pairs {
		if p.Key == key {
			return p
		}
	}
	return kvPair{Flags: semaphoreFlagValue}
}

func (m *semaphore) decodeLock(p kvPair) (*semaphoreLock, error) {
	lock := &semaphoreLock{Limit: m.limit}
	if len(p.Value) > 0 {
		if err := json.Unmarshal(p.Value, lock); err != nil {
			return nil, fmt.Errorf("lock decoding failed: %w", err)
		}
	}
	if lock.Holders == nil {
		lock.Holders = map[string]bool{}
	}
	return lock, nil
}

// pruneDeadHolders drops the holders whose session holds no key under the
// prefix any more.
func pruneDeadHolders(lock *semaphoreLock, pairs []kvPair) {
	alive := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		if p.Session != "" {
			alive[p.Session] = true
		}
	}
	for holder := range lock.Holders {
		if !alive[holder] {
			delete(lock.Holders, holder)
		}
	}
}

func errOr(err error, fallback string) any {
	if err != nil {
		return err
	}
	return fallback
}

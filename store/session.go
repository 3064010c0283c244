package store

import (
	"errors"
	"fmt"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// Session behaviors.
const (
	SessionRelease = "release"
	SessionDelete  = "delete"
)

// ErrSessionNotFound is returned for a session that does not exist (or no
// longer does).
var ErrSessionNotFound = errors.New("invalid session")

func sessionFirst(tx *memdb.Txn, id string) (*pb.Session, error) {
	raw, err := tx.First(tableSessions, "id", id)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*pb.Session), nil
}

// sessionCreate stores a new session bound to its node and checks. The
// node must exist and none of the checks may be critical, so a session is
// never born invalid.
func sessionCreate(tx *memdb.Txn, idx uint64, now int64, in *pb.Session) error {
	if in == nil || in.Id == "" || in.Node == "" {
		return fmt.Errorf("%w: session without an id or node", ErrBadCommand)
	}
	switch in.Behavior {
	case "", SessionRelease, SessionDelete:
	default:
		return fmt.Errorf("%w: invalid session behavior %q", ErrBadCommand, in.Behavior)
	}
	if existing, err := sessionFirst(tx, in.Id); err != nil || existing != nil {
		if err == nil {
			err = fmt.Errorf("%w: session %q exists", ErrBadCommand, in.Id)
		}
		return err
	}
	node, err := nodeFirst(tx, in.Node)
	if err != nil {
		return err
	}
	if node == nil {
		return fmt.Errorf("%w: Missing node registration for %q", ErrBadCommand, in.Node)
	}
	sess := proto.Clone(in).(*pb.Session)
	sess.Node = node.Node
	if sess.Behavior == "" {
		sess.Behavior = SessionRelease
	}
	sess.CreateIndex, sess.ModifyIndex = idx, idx
	checks := append(append([]string(nil), sess.NodeChecks...), sess.ServiceChecks...)
	for _, id := range checks {
		raw, err := tx.First(tableChecks, "id", node.Node, id)
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("%w: Missing check '%s' registration", ErrBadCommand, id)
		}
		if raw.(*pb.HealthCheck).Status == HealthCritical {
			return fmt.Errorf("%w: Check '%s' is in critical state", ErrBadCommand, id)
		}
		if err := tx.Insert(tableSessionChecks, &sessionCheck{Node: node.Node, CheckID: id, Session: sess.Id}); err != nil {
			return err
		}
	}
	if err := tx.Insert(tableSessions, sess); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	if sess.TtlNanos > 0 {
		timer := &pb.SessionTimer{Id: sess.Id, RenewedUnixNano: now, TtlNanos: sess.TtlNanos}
		if err := tx.Insert(tableSessionTimers, timer); err != nil {
			return err
		}
	}
	return setIndex(tx, tableSessions, idx)
}

// sessionRenew restarts a TTL session's timer at now. It does not move
// the session's index: renewals wake no reader.
func sessionRenew(tx *memdb.Txn, now int64, id string) error {
	sess, err := sessionFirst(tx, id)
	if err != nil {
		return err
	}
	if sess == nil {
		return fmt.Errorf("%w %q", ErrSessionNotFound, id)
	}
	if sess.TtlNanos == 0 {
		return nil
	}
	return tx.Insert(tableSessionTimers, &pb.SessionTimer{Id: sess.Id, RenewedUnixNano: now, TtlNanos: sess.TtlNanos})
}

// sessionDestroy invalidates a session. With only_if_expired it does so
// only when the TTL ran out by now; it reports whether it destroyed.
func sessionDestroy(tx *memdb.Txn, idx uint64, now int64, req *pb.SessionDestroy) (bool, error) {
	sess, err := sessionFirst(tx, req.GetId())
	if err != nil || sess == nil {
		return false, err
	}
	if req.OnlyIfExpired {
		raw, err := tx.First(tableSessionTimers, "id", sess.Id)
		if err != nil {
			return false, err
		}
		if raw == nil {
			return false, nil
		}
		t := raw.(*pb.SessionTimer)
		if t.RenewedUnixNano+t.TtlNanos > now {
			return false, nil
		}
	}
	return true, invalidateSession(tx, idx, now, sess)
}

// invalidateSession deletes a session: the keys it holds are released (or
// deleted, with behavior delete), each blocked for the session's
// lock-delay, and its check links and timer go with it.
func invalidateSession(tx *memdb.Txn, idx uint64, now int64, sess *pb.Session) error {
	held, err := kvHeldBy(tx, sess.Id)
	if err != nil {
		return err
	}
	for _, e := range held {
		if sess.LockDelayNanos > 0 {
			if err := tx.Insert(tableLockDelays, &pb.LockDelay{Key: e.Key, UntilUnixNano: now + sess.LockDelayNanos}); err != nil {
				return err
			}
		}
		if sess.Behavior == SessionDelete {
			if err := kvDeleteEntry(tx, idx, e); err != nil {
				return err
			}
			continue
		}
		u := *e
		u.Session, u.ModifyIndex = "", idx
		if err := kvPut(tx, &u); err != nil {
			return err
		}
		if err := setIndex(tx, tableKVs, idx); err != nil {
			return err
		}
	}
	if _, err := tx.DeleteAll(tableSessionChecks, "session", sess.Id); err != nil {
		return err
	}
	if _, err := tx.DeleteAll(tableSessionTimers, "id", sess.Id); err != nil {
		return err
	}
	if err := deleteSessionQueries(tx, idx, sess.Id); err != nil {
		return err
	}
	if err := tx.Delete(tableSessions, sess); err != nil {
		return err
	}
	return setIndex(tx, tableSessions, idx)
}

func invalidateCheckSessions(tx *memdb.Txn, idx uint64, now int64, node, checkID string) error {
	it, err := tx.Get(tableSessionChecks, "node_check", node, checkID)
	if err != nil {
		return err
	}
	var ids []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ids = append(ids, raw.(*sessionCheck).Session)
	}
	return invalidateSessionIDs(tx, idx, now, ids)
}

func invalidateNodeSessions(tx *memdb.Txn, idx uint64, now int64, node string) error {
	it, err := tx.Get(tableSessions, "node", node)
	if err != nil {
		return err
	}
	var ids []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ids = append(ids, raw.(*pb.Session).Id)
	}
	return invalidateSessionIDs(tx, idx, now, ids)
}

func invalidateSessionIDs(tx *memdb.Txn, idx uint64, now int64, ids []string) error {
	for _, id := range ids {
		sess, err := sessionFirst(tx, id)
		if err != nil {
			return err
		}
		if sess == nil {
			continue
		}
		if err := invalidateSession(tx, idx, now, sess); err != nil {
			return err
		}
	}
	return nil
}

// kvLock acquires key for the entry's session. It succeeds if the key is
// free (and not in lock-delay) or already held by the same session; the
// value and flags are written either way. LockIndex counts acquisitions.
func kvLock(tx *memdb.Txn, idx uint64, now int64, in *pb.KVEntry) (bool, *kvEntry, error) {
	if in.Key == "" {
		return false, nil, fmt.Errorf("%w: missing key name", ErrBadCommand)
	}
	sess, err := sessionFirst(tx, in.Session)
	if err != nil {
		return false, nil, err
	}
	if sess == nil {
		return false, nil, fmt.Errorf("%w %q", ErrSessionNotFound, in.Session)
	}
	existing, err := kvFirst(tx, in.Key)
	if err != nil {
		return false, nil, err
	}
	e := &kvEntry{Key: in.Key, Flags: in.Flags, Session: sess.Id, CreateIndex: idx, ModifyIndex: idx, LockIndex: 1}
	if existing != nil {
		e.CreateIndex = existing.CreateIndex
		switch existing.Session {
		case sess.Id:
			e.LockIndex = existing.LockIndex
		case "":
			e.LockIndex = existing.LockIndex + 1
		default:
			return false, nil, nil
		}
	}
	if existing == nil || existing.Session == "" {
		raw, err := tx.First(tableLockDelays, "id", in.Key)
		if err != nil {
			return false, nil, err
		}
		if raw != nil && now < raw.(*pb.LockDelay).UntilUnixNano {
			return false, nil, nil
		}
	}
	if e.val, err = kvNewValue(tx, in.Value); err != nil {
		return false, nil, err
	}
	return true, e, kvInsert(tx, idx, e)
}

// kvUnlock releases key if the entry's session holds it, writing the
// value and flags. No lock-delay follows an explicit release.
func kvUnlock(tx *memdb.Txn, idx uint64, in *pb.KVEntry) (bool, *kvEntry, error) {
	existing, err := kvFirst(tx, in.Key)
	if err != nil {
		return false, nil, err
	}
	if existing == nil || existing.Session == "" || existing.Session != in.Session {
		return false, nil, nil
	}
	e := &kvEntry{Key: in.Key, Flags: in.Flags, CreateIndex: existing.CreateIndex, ModifyIndex: idx, LockIndex: existing.LockIndex}
	if e.val, err = kvNewValue(tx, in.Value); err != nil {
		return false, nil, err
	}
	return true, e, kvInsert(tx, idx, e)
}

// Session returns one session, or nil.
func (s *Store) Session(ws memdb.WatchSet, id string) (uint64, *pb.Session, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableSessions)
	sess, err := sessionFirst(tx, id)
	return idx, sess, err
}

// Sessions lists every session, or a node's when node is set.
func (s *Store) Sessions(ws memdb.WatchSet, node string) (uint64, []*pb.Session, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableSessions)
	var it memdb.ResultIterator
	var err error
	if node == "" {
		it, err = tx.Get(tableSessions, "id")
	} else {
		it, err = tx.Get(tableSessions, "node", node)
	}
	if err != nil {
		return 0, nil, err
	}
	var out []*pb.Session
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.Session))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return idx, out, nil
}

// SessionTimers lists the TTL sessions with their last renewal, for the
// leader to schedule expiry.
func (s *Store) SessionTimers() ([]*pb.SessionTimer, error) {
	tx := s.readTxn()
	defer tx.Abort()
	it, err := tx.Get(tableSessionTimers, "id")
	if err != nil {
		return nil, err
	}
	var out []*pb.SessionTimer
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.SessionTimer))
	}
	return out, nil
}

// SessionTimer returns one TTL session's timer, or nil.
func (s *Store) SessionTimer(id string) (*pb.SessionTimer, error) {
	tx := s.readTxn()
	defer tx.Abort()
	raw, err := tx.First(tableSessionTimers, "id", id)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*pb.SessionTimer), nil
}

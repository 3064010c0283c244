package store

import (
	"errors"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb"
)

// at applies a command at a given leader time.
func (a *applier) at(now time.Duration, c *pb.Command) *Result {
	a.t.Helper()
	c.NowUnixNano = int64(now)
	return a.cmd(c)
}

func sessCreate(id, node string, checks []string, behavior string, lockDelay, ttl time.Duration) *pb.Command {
	return &pb.Command{Cmd: &pb.Command_SessionCreate{SessionCreate: &pb.SessionCreate{Session: &pb.Session{
		Id: id, Node: node, NodeChecks: checks, Behavior: behavior, LockDelayNanos: int64(lockDelay), TtlNanos: int64(ttl),
	}}}}
}

func lockCmd(verb pb.KVVerb, key, value, session string) *pb.Command {
	return &pb.Command{Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: verb, Entry: &pb.KVEntry{Key: key, Value: []byte(value), Session: session}}}}
}

func setSerf(status string) *pb.Command {
	return &pb.Command{Cmd: &pb.Command_Register{Register: &pb.CatalogRegister{
		Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
		Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Status: status}},
	}}}
}

func newSessionApplier(t *testing.T) *applier {
	a := newApplier(t)
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1", Address: "10.0.0.1"},
		Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Status: HealthPassing}}})
	return a
}

func TestSessionCreateRules(t *testing.T) {
	a := newSessionApplier(t)
	if r := a.at(0, sessCreate("s1", "ghost", nil, "", 0, 0)); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("unknown node: %v", r.Err)
	}
	if r := a.at(0, sessCreate("s1", "n1", []string{"nope"}, "", 0, 0)); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("unknown check: %v", r.Err)
	}
	if r := a.at(0, sessCreate("s1", "n1", nil, "explode", 0, 0)); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("bad behavior: %v", r.Err)
	}
	a.at(0, setSerf(HealthCritical))
	if r := a.at(0, sessCreate("s1", "n1", []string{SerfCheckID}, "", 0, 0)); r.Err == nil {
		t.Fatal("created a session on a critical check")
	}
	if _, list, _ := a.s.Sessions(nil, ""); len(list) != 0 {
		t.Fatalf("refused creates left %v", list)
	}
}

func TestLockAcquireRelease(t *testing.T) {
	a := newSessionApplier(t)
	a.at(0, sessCreate("s1", "n1", []string{SerfCheckID}, "", 0, 0))
	a.at(0, sessCreate("s2", "n1", nil, "", 0, 0))

	if r := a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "lock", "a", "s1")); !r.OK {
		t.Fatalf("first acquire: %+v", r)
	}
	if e := a.get("lock"); e.Session != "s1" || e.LockIndex != 1 || string(e.Value) != "a" {
		t.Fatalf("after acquire: %+v", e)
	}
	if r := a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "lock", "b", "s2")); r.OK {
		t.Fatal("second session acquired a held lock")
	}
	if r := a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "lock", "c", "s1")); !r.OK || a.get("lock").LockIndex != 1 {
		t.Fatal("re-acquire by the holder failed or bumped LockIndex")
	}
	if r := a.at(0, lockCmd(pb.KVVerb_KV_UNLOCK, "lock", "d", "s2")); r.OK {
		t.Fatal("release by a non-holder succeeded")
	}
	if r := a.at(0, lockCmd(pb.KVVerb_KV_UNLOCK, "lock", "e", "s1")); !r.OK {
		t.Fatal("release by the holder failed")
	}
	if e := a.get("lock"); e.Session != "" || e.LockIndex != 1 || string(e.Value) != "e" {
		t.Fatalf("after release: %+v", e)
	}
	// No lock-delay after an explicit release.
	if r := a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "lock", "f", "s2")); !r.OK || a.get("lock").LockIndex != 2 {
		t.Fatal("acquire after release failed or LockIndex not counted")
	}
	if r := a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "other", "x", "nope")); !errors.Is(r.Err, ErrSessionNotFound) {
		t.Fatalf("unknown session: %v", r.Err)
	}
	// A plain set keeps the lock.
	a.kv(pb.KVVerb_KV_SET, "lock", "plain", 0)
	if e := a.get("lock"); e.Session != "s2" {
		t.Fatalf("plain set dropped the lock: %+v", e)
	}
}

func TestInvalidationReleasesWithLockDelay(t *testing.T) {
	a := newSessionApplier(t)
	a.at(0, sessCreate("s1", "n1", []string{SerfCheckID}, SessionRelease, 15*time.Second, 0))
	a.at(0, sessCreate("s2", "n1", nil, "", 0, 0))
	a.at(time.Second, lockCmd(pb.KVVerb_KV_LOCK, "lock", "a", "s1"))

	a.at(10*time.Second, setSerf(HealthCritical)) // the node fails: s1 goes
	if _, s, _ := a.s.Session(nil, "s1"); s != nil {
		t.Fatal("session survived its check going critical")
	}
	if e := a.get("lock"); e == nil || e.Session != "" {
		t.Fatalf("lock not released: %+v", e)
	}
	if r := a.at(20*time.Second, lockCmd(pb.KVVerb_KV_LOCK, "lock", "b", "s2")); r.OK {
		t.Fatal("acquired within lock-delay")
	}
	if r := a.at(25*time.Second+time.Millisecond, lockCmd(pb.KVVerb_KV_LOCK, "lock", "b", "s2")); !r.OK {
		t.Fatal("could not acquire after lock-delay")
	}
}

func TestDeleteBehaviorRemovesKeys(t *testing.T) {
	a := newSessionApplier(t)
	a.at(0, sessCreate("eph", "n1", nil, SessionDelete, 0, 10*time.Second))
	a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "services/me", "here", "eph"))
	// Not yet expired: nothing happens.
	a.at(5*time.Second, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "eph", OnlyIfExpired: true}}})
	a.mustValue("services/me", "here")
	// Renewed at 8s: still alive at 15s, gone at 18s.
	a.at(8*time.Second, &pb.Command{Cmd: &pb.Command_SessionRenew{SessionRenew: &pb.SessionRenew{Id: "eph"}}})
	if r := a.at(15*time.Second, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "eph", OnlyIfExpired: true}}}); r.OK {
		t.Fatal("destroyed a renewed session early")
	}
	if r := a.at(18*time.Second, &pb.Command{Cmd: &pb.Command_SessionDestroy{SessionDestroy: &pb.SessionDestroy{Id: "eph", OnlyIfExpired: true}}}); !r.OK {
		t.Fatal("expired session not destroyed")
	}
	a.mustMissing("services/me")
}

func TestNodeDeregisterInvalidatesSessions(t *testing.T) {
	a := newSessionApplier(t)
	a.at(0, sessCreate("s1", "n1", nil, "", 0, 0))
	a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "k", "v", "s1"))
	a.deregister(&pb.CatalogDeregister{Node: "n1"})
	if _, list, _ := a.s.Sessions(nil, ""); len(list) != 0 {
		t.Fatalf("sessions survived their node: %v", list)
	}
	if e := a.get("k"); e.Session != "" {
		t.Fatal("lock survived its session's node")
	}
}

func TestTxnLockVerbs(t *testing.T) {
	a := newSessionApplier(t)
	a.at(0, sessCreate("s1", "n1", nil, "", 0, 0))
	r := a.txn(&pb.KVOp{Verb: pb.KVVerb_KV_LOCK, Entry: &pb.KVEntry{Key: "t", Value: []byte("1"), Session: "s1"}},
		&pb.KVOp{Verb: pb.KVVerb_KV_CHECK_SESSION, Entry: &pb.KVEntry{Key: "t", Session: "s1"}})
	if len(r.Errors) != 0 {
		t.Fatalf("lock txn: %v", r.Errors)
	}
	r = a.txn(&pb.KVOp{Verb: pb.KVVerb_KV_UNLOCK, Entry: &pb.KVEntry{Key: "t", Session: "other"}})
	if len(r.Errors) != 1 {
		t.Fatal("unlock by a non-holder succeeded in a txn")
	}
}

func TestSessionsSurviveSnapshot(t *testing.T) {
	a := newSessionApplier(t)
	a.at(0, sessCreate("s1", "n1", []string{SerfCheckID}, "", time.Second, 30*time.Second))
	a.at(0, lockCmd(pb.KVVerb_KV_LOCK, "k", "v", "s1"))
	b := newApplier(t)
	roundTrip(t, a.s, b.s)
	b.idx = a.idx
	if timers, _ := b.s.SessionTimers(); len(timers) != 1 || timers[0].TtlNanos != int64(30*time.Second) {
		t.Fatalf("timers after restore: %v", timers)
	}
	// The restored check link still invalidates.
	b.at(time.Second, setSerf(HealthCritical))
	if _, s, _ := b.s.Session(nil, "s1"); s != nil {
		t.Fatal("restored session not bound to its check")
	}
}

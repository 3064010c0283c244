package dc

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-io/meridian/pb")

// createSession creates a TTL session on node through ts and returns its id.
func createSession(t *testing.T, ts *testServer, node string, ttl time.Duration) string {
	t.Helper()
	var resp pb.SessionCreateResponse
	req := &pb.SessionCreateRequest{Session: &pb.Session{Node: node, TtlNanos: int64(ttl)}, DefaultChecks: true}
	if err := call(ts, MethodSessionCreate, req, &resp); err != nil || resp.Id == "" {
		t.Fatalf("create session on %s: %q, %v", ts.name, resp.Id, err)
	}
	return resp.Id
}

// sessionExists reads a session on ts (a linearizable read).
func sessionExists(t *testing.T, ts *testServer, id string) bool {
	t.Helper()
	var resp pb.SessionsResponse
	if err := call(ts, MethodSessionGet, &pb.SessionGetRequest{Id: id}, &resp); err != nil {
		t.Fatalf("get session on %s: %v", ts.name, err)
	}
	return len(resp.Sessions) == 1
}

// waitCatalogNode waits until the leader has made a LAN member a catalog
// node, so sessions can name it.
func waitCatalogNode(t *testing.T, ts *testServer, node string) {
	t.Helper()
	waitFor(t, "node "+node+" in the catalog", func() error {
		if _, n, err := ts.Store().Node(nil, node); err != nil || n == nil {
			return fmt.Errorf("no node %s (%v)", node, err)
		}
		return nil
	})
}

// A TTL session expires at its replicated renewal time plus its TTL, on
// whichever server leads then: a new leader does not give it a full TTL
// after taking over, and a renewal pushes the expiry out.
func TestSessionTTLExpiresAcrossALeaderChange(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		waitCatalogNode(t, leader, "s1")
		const ttl = 10 * time.Second
		created := time.Now()
		id := createSession(t, c.followers(leader)[0], "s1", ttl)
		renewed := createSession(t, leader, "s1", ttl)

		time.Sleep(5 * time.Second)
		var renew pb.SessionsResponse
		if err := call(c.followers(leader)[1], MethodSessionRenew, &pb.SessionRenewRequest{Id: renewed}, &renew); err != nil || len(renew.Sessions) != 1 {
			t.Fatalf("renew: %v, %v", renew.Sessions, err)
		}
		renewedAt := time.Now()

		time.Sleep(time.Second)
		c.isolate(leader)
		next := c.waitLeader(c.followers(leader)...)
		if since := time.Since(created); since >= ttl {
			t.Fatalf("the new leader took %s; the test needs it before the TTL", since)
		}
		if !sessionExists(t, next, id) {
			t.Fatal("session gone before its TTL")
		}
		waitFor(t, "the session expires on the new leader", func() error {
			if sessionExists(t, next, id) {
				return errors.New("session still there")
			}
			return nil
		})
		if at := time.Since(created); at < ttl || at > ttl+time.Second {
			t.Fatalf("session expired %s after creation, want %s (+1s)", at, ttl)
		}
		if !sessionExists(t, next, renewed) {
			t.Fatal("the renewed session expired with the other")
		}
		waitFor(t, "the renewed session expires", func() error {
			if sessionExists(t, next, renewed) {
				return errors.New("session still there")
			}
			return nil
		})
		if at := time.Since(renewedAt); at < ttl || at > ttl+time.Second {
			t.Fatalf("renewed session expired %s after its renewal, want %s (+1s)", at, ttl)
		}
		c.heal()
	})
}

// Sessions are refused with a clear error when their input is bad, and
// are destroyed on request.
func TestSessionEndpoints(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newTestCluster(t, 1, nil)
		s := c.waitLeader()
		waitCatalogNode(t, s, "s1")
		for _, bad := range []*pb.Session{
			{},
			{Node: "s1", Behavior: "explode"},
			{Node: "s1", TtlNanos: int64(time.Second)},
			{Node: "s1", LockDelayNanos: int64(time.Hour)},
		} {
			if err := call(s, MethodSessionCreate, &pb.SessionCreateRequest{Session: bad}, &pb.SessionCreateResponse{}); err == nil {
				t.Errorf("session %v accepted", bad)
			}
		}
		if err := call(s, MethodSessionCreate, &pb.SessionCreateRequest{Session: &pb.Session{Node: "nowhere"}}, &pb.SessionCreateResponse{}); err == nil {
			t.Error("session on an unknown node accepted")
		}
		id := createSession(t, s, "s1", 0)
		var list pb.SessionsResponse
		if err := call(s, MethodSessionGet, &pb.SessionGetRequest{Node: "s1"}, &list); err != nil || len(list.Sessions) != 1 {
			t.Fatalf("sessions of s1: %v, %v", list.Sessions, err)
		}
		if err := call(s, MethodSessionDestroy, &pb.SessionDestroyRequest{Id: id}, &pb.WriteResponse{}); err != nil {
			t.Fatal(err)
		}
		if sessionExists(t, s, id) {
			t.Fatal("destroyed session still there")
		}
		if err := call(s, MethodSessionDestroy, &pb.SessionDestroyRequest{}, &pb.WriteResponse{}); err == nil {
			t.Error("destroy without an id accepted")
		}
		if err := call(s, MethodSessionRenew, &pb.SessionRenewRequest{}, &pb.SessionsResponse{}); err == nil {
			t.Error("renew without an id accepted")
		}
		if err := call(s, MethodSessionRenew, &pb.SessionRenewRequest{Id: id}, &pb.SessionsResponse{}); err == nil {
			t.Error("renew of a destroyed session accepted")
		}
	})
}

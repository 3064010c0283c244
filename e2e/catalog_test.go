package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Three servers and two client agents as processes: a client killed with
// SIGKILL turns critical in the catalog through serfHealth and its
// services leave ?passing; a client that leaves is removed from the
// catalog.
func TestClientAgentFailureAndLeave(t *testing.T) {
	e := newEnv(t)
	servers := e.startServers(3)
	e.waitLeader(30*time.Second, "", servers...)
	var clients []*agentProc
	for _, name := range []string{"c1", "c2"} {
		clients = append(clients, e.startAgent(name,
			"-node", name, "-datacenter", "dc1", "-data-dir", t.TempDir(),
			"-bind", "127.0.0.1", "-client", "127.0.0.1",
			"-retry-join", servers[0].LANAddr, "-retry-interval", "100ms"))
	}
	for _, c := range clients {
		reg := &api.AgentServiceRegistration{
			ID: "api-" + c.Name, Name: "api", Port: 9000,
			Check: &api.AgentServiceCheck{CheckID: "api-ttl", TTL: "1h", Status: api.HealthPassing},
		}
		e.waitFor(20*time.Second, c.Name+" registers its service", func() error {
			return c.API.Agent().ServiceRegister(reg)
		})
	}
	srv := servers[1].API
	passing := func() (int, error) {
		entries, _, err := srv.Health().Service("api", "", true, nil)
		return len(entries), err
	}
	e.waitFor(20*time.Second, "both instances passing", func() error {
		if n, err := passing(); err != nil || n != 2 {
			return fmt.Errorf("%d passing (%v)", n, err)
		}
		return nil
	})

	killed := time.Now()
	clients[0].Kill()
	// Gossip declares a silent member failed after its suspicion timeout:
	// 3 s with the local profile when other members confirm the suspicion
	// at once, up to 18 s when none does (memberlist's maximum), which a
	// loaded machine reaches; the bound allows for that.
	e.waitFor(25*time.Second, "c1's serfHealth critical", func() error {
		checks, _, err := srv.Health().Node("c1", nil)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID == "serfHealth" && c.Status == api.HealthCritical {
				return nil
			}
		}
		return fmt.Errorf("serfHealth not critical yet: %v", checks)
	})
	t.Logf("c1 critical %s after SIGKILL", time.Since(killed))
	if n, err := passing(); err != nil || n != 1 {
		t.Fatalf("passing after c1 died = %d (%v), want 1", n, err)
	}

	// A graceful leave removes the node from the catalog, and the agent
	// exits.
	clients[1].mu.Lock()
	clients[1].wantDown = true
	clients[1].mu.Unlock()
	if err := clients[1].API.Agent().Leave(); err != nil {
		t.Fatal(err)
	}
	// The leave reaches every server by gossip at once, almost always; a
	// server that missed the leave intent (a dropped packet on a loaded
	// machine) marks the node failed and learns it left at the next
	// push/pull exchange (15 s apart with the local profile), which the
	// bound allows for.
	e.waitFor(45*time.Second, "c2 gone from the catalog", func() error {
		node, _, err := srv.Catalog().Node("c2", nil)
		if err != nil {
			return err
		}
		if node != nil {
			return fmt.Errorf("c2 still registered")
		}
		return nil
	})
	if n, err := passing(); err != nil || n != 0 {
		t.Fatalf("passing after c2 left = %d (%v), want 0", n, err)
	}
	e.waitFor(10*time.Second, "c2's process to exit", func() error {
		if clients[1].Running() {
			return fmt.Errorf("still running")
		}
		return nil
	})
	if err := clients[1].ExitErr(); err != nil {
		t.Fatalf("c2 exited with %v after leave", err)
	}
}

// Two contenders for one lock on two client agents: when the holder's
// agent is killed with SIGKILL, its session dies with the node's
// serfHealth and the other contender gets the lock.
func TestLockSurvivesHolderKill(t *testing.T) {
	e := newEnv(t)
	servers := e.startServers(1)
	e.waitLeader(30*time.Second, "", servers...)
	var clients []*agentProc
	for _, name := range []string{"holder", "waiter"} {
		clients = append(clients, e.startAgent(name,
			"-node", name, "-datacenter", "dc1", "-data-dir", t.TempDir(),
			"-bind", "127.0.0.1", "-client", "127.0.0.1",
			"-retry-join", servers[0].LANAddr, "-retry-interval", "100ms"))
	}
	// Lock recipes make 15s blocking reads: clients without the harness's
	// request timeout.
	holderAPI, err := api.NewClient(&api.Config{Address: clients[0].HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	waiterAPI, err := api.NewClient(&api.Config{Address: clients[1].HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	var sid string
	e.waitFor(20*time.Second, "a session on the holder's node", func() (err error) {
		sid, _, err = holderAPI.Session().Create(&api.SessionEntry{LockDelay: time.Second}, nil)
		return err
	})
	holder, err := holderAPI.LockOpts(&api.LockOptions{Key: "leader/app", Session: sid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Lock(nil); err != nil {
		t.Fatal(err)
	}
	waiter, err := waiterAPI.LockKey("leader/app")
	if err != nil {
		t.Fatal(err)
	}
	acquired := make(chan time.Time, 1)
	go func() {
		if _, err := waiter.Lock(nil); err != nil {
			t.Errorf("waiter Lock: %v", err)
			return
		}
		acquired <- time.Now()
	}()
	select {
	case <-acquired:
		t.Fatal("the waiter acquired a held lock")
	case <-time.After(500 * time.Millisecond):
	}
	killed := time.Now()
	clients[0].Kill()
	select {
	case at := <-acquired:
		// Failure detection, the 1s lock-delay and the client's 5s retry
		// after a refused acquire bound the hand-off.
		d := at.Sub(killed)
		t.Logf("lock handed over %s after the holder was killed", d)
		if d > 20*time.Second {
			t.Fatalf("hand-off took %s", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter never got the lock after the holder died")
	}
	waiter.Unlock()
}

package serfpool

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

func TestLifecycleErrorsAreTheOwners(t *testing.T) {
	errs := Errors{NotStarted: errors.New("not started"), Shutdown: errors.New("shut down")}
	p := New(Config{Kind: "test", MemberName: "n1", Errors: errs})
	if _, err := p.Join([]string{"127.0.0.1"}); err != errs.NotStarted {
		t.Errorf("Join before Start = %v", err)
	}
	if err := <-p.RetryJoin([]string{"127.0.0.1"}, 0, 1); err != errs.NotStarted {
		t.Errorf("RetryJoin before Start = %v", err)
	}
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != errs.Shutdown {
		t.Errorf("Start after Shutdown = %v", err)
	}
	if err := p.Leave(); err != errs.Shutdown {
		t.Errorf("Leave after Shutdown = %v", err)
	}
	if p.Members() != nil || p.NumMembers() != 0 || len(p.Stats()) != 0 {
		t.Error("a stopped pool reports members")
	}
}

func TestMissingErrorsAreFilled(t *testing.T) {
	p := New(Config{Kind: "test", MemberName: "n1"})
	if err := p.Leave(); err == nil || err.Error() != "test pool not started" {
		t.Errorf("Leave before Start = %v", err)
	}
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err == nil || err.Error() != "test pool shut down" {
		t.Errorf("Start after Shutdown = %v", err)
	}
}

// TestTwoPoolsJoinAndLeave runs two loopback pools: the owner's handlers
// see the join, the ticks and the leave, and Shutdown waits for them.
func TestTwoPoolsJoinAndLeave(t *testing.T) {
	type seen struct {
		kind EventKind
		name string
	}
	events := make(chan seen, 64)
	ticks := make(chan struct{}, 1)
	start := func(name string, onTick func(*serf.Serf)) *Pool {
		p := New(Config{
			Kind: "test", NodeName: name, MemberName: name, Profile: ProfileLocal, BindAddr: "127.0.0.1",
			Tags: map[string]string{"role": "test"}, JoinPort: 1,
			// Remembered past the test (0 would reap a left member at the
			// next reap, racing the ForceLeave below).
			ReconnectTimeout: time.Hour, TombstoneTimeout: time.Hour,
			OnEvent: func(ev Event) {
				for _, m := range ev.Members {
					if m.Name != name {
						events <- seen{ev.Kind, m.Name}
					}
				}
			},
			Tick: 10 * time.Millisecond, OnTick: onTick,
		})
		if err := p.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Shutdown() })
		return p
	}
	a := start("a", func(*serf.Serf) {
		select {
		case ticks <- struct{}{}:
		default:
		}
	})
	b := start("b", nil)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(a.LocalMember().Port)))
	if err := <-b.RetryJoin([]string{addr}, time.Second, 3); err != nil {
		t.Fatalf("RetryJoin: %v", err)
	}
	wait := func(want seen) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case got := <-events:
				if got == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %v event for %s", want.kind, want.name)
			}
		}
	}
	wait(seen{EventJoin, "b"})
	select {
	case <-ticks:
	case <-time.After(20 * time.Second):
		t.Fatal("OnTick never ran")
	}
	if got := b.Members(); len(got) != 2 || got[0].Tags["role"] != "test" {
		t.Fatalf("b's members = %+v", got)
	}
	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	wait(seen{EventLeave, "b"})
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := a.ForceLeave("B", true); err != nil {
		t.Errorf("ForceLeave of a left member: %v", err)
	}
	if err := a.ForceLeave("nobody", false); err == nil {
		t.Error("ForceLeave of an unknown member succeeded")
	}
}

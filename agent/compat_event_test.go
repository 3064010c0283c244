package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

func TestConsulAPIEvents(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1, Clients: 2})
	first, second := client(t, c.Nodes[1]), client(t, c.Nodes[2])

	_, meta, err := second.Event().List("deploy", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []*api.UserEvent, 1)
	go func() {
		events, _, err := second.Event().List("deploy", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- events
	}()
	id, _, err := first.Event().Fire(&api.UserEvent{Name: "deploy", Payload: []byte("v42")}, nil)
	if err != nil || id == "" {
		t.Fatalf("fire: %q %v", id, err)
	}
	select {
	case events := <-done:
		if len(events) != 1 || events[0].ID != id || string(events[0].Payload) != "v42" {
			t.Fatalf("woke with %+v", events)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("blocking event list did not wake")
	}

	// A node filter that matches only the first client.
	if _, _, err := first.Event().Fire(&api.UserEvent{Name: "only-first", NodeFilter: "^" + c.Nodes[1].Name + "$"}, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		events, _, err := first.Event().List("only-first", nil)
		if err != nil || len(events) != 1 {
			return fmt.Errorf("first sees %d events (%v)", len(events), err)
		}
		return nil
	})
	// Once a later, unfiltered event has reached the second client, the
	// filtered one has had its chance: its filter must have kept it out.
	if _, _, err := first.Event().Fire(&api.UserEvent{Name: "marker"}, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() error {
		if events, _, _ := second.Event().List("marker", nil); len(events) != 1 {
			return fmt.Errorf("marker not yet at the second client")
		}
		return nil
	})
	if events, _, _ := second.Event().List("only-first", nil); len(events) != 0 {
		t.Fatalf("filtered event delivered to the second client: %+v", events)
	}
	if _, _, err := first.Event().Fire(&api.UserEvent{Name: "bad", NodeFilter: "("}, nil); err == nil {
		t.Fatal("event with a bad regex accepted")
	}
}

package serfpool

import (
	"net"
	"testing"

	"github.com/hashicorp/serf/serf"
)

func TestStatusCode(t *testing.T) {
	cases := []struct {
		serf serf.MemberStatus
		want Status
		code int
	}{
		{serf.StatusNone, StatusNone, 0},
		{serf.StatusAlive, StatusAlive, 1},
		{serf.StatusLeaving, StatusLeaving, 2},
		{serf.StatusLeft, StatusLeft, 3},
		{serf.StatusFailed, StatusFailed, 4},
	}
	for _, tc := range cases {
		m := FromSerf(serf.Member{Name: "n", Status: tc.serf})
		if m.Status != tc.want || m.StatusCode != tc.code {
			t.Errorf("serf %v -> %q/%d, want %q/%d", tc.serf, m.Status, m.StatusCode, tc.want, tc.code)
		}
	}
}

func TestFromSerfCopiesTags(t *testing.T) {
	tags := map[string]string{"dc": "dc1"}
	m := FromSerf(serf.Member{Name: "n", Tags: tags, Addr: net.IPv4(127, 0, 0, 1)})
	m.Tags["dc"] = "changed"
	if tags["dc"] != "dc1" {
		t.Error("Member shares its tags map with serf")
	}
}

func TestFromSerfEvent(t *testing.T) {
	cases := []struct {
		in   serf.Event
		want EventKind
	}{
		{serf.MemberEvent{Type: serf.EventMemberJoin}, EventJoin},
		{serf.MemberEvent{Type: serf.EventMemberLeave}, EventLeave},
		{serf.MemberEvent{Type: serf.EventMemberFailed}, EventFailed},
		{serf.MemberEvent{Type: serf.EventMemberUpdate}, EventUpdate},
		{serf.MemberEvent{Type: serf.EventMemberReap}, EventReap},
		{serf.UserEvent{Name: "deploy", Payload: []byte("v2"), LTime: 7, Coalesce: true}, EventUser},
	}
	for _, tc := range cases {
		ev, ok := FromSerfEvent(tc.in)
		if !ok || ev.Kind != tc.want {
			t.Errorf("%v -> %v, %v; want %v", tc.in, ev.Kind, ok, tc.want)
		}
	}
	ev, _ := FromSerfEvent(serf.UserEvent{Name: "deploy", Payload: []byte("v2"), LTime: 7, Coalesce: true})
	if ev.Name != "deploy" || string(ev.Payload) != "v2" || ev.LTime != 7 || !ev.Coalesce {
		t.Errorf("user event = %+v", ev)
	}
	if _, ok := FromSerfEvent(&serf.Query{Name: "q"}); ok {
		t.Error("queries are forwarded")
	}
}

func TestEventKindNames(t *testing.T) {
	for k, want := range map[EventKind]string{EventJoin: "join", EventLeave: "leave", EventFailed: "failed",
		EventUpdate: "update", EventReap: "reap", EventUser: "user", 0: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d) = %q, want %q", int(k), got, want)
		}
	}
}

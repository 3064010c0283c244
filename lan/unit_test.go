package lan

import (
	"errors"
	"maps"
	"net"
	"testing"

	"github.com/hashicorp/serf/serf"
)

func TestBuildTags(t *testing.T) {
	server := Config{Role: RoleServer, Datacenter: "dc2", NodeID: "id-1", RPCPort: 8300, BootstrapExpect: 3, Version: "1.2.3"}
	boot := Config{Role: RoleServer, Datacenter: "dc1", NodeID: "id-2", RPCPort: 9300, Bootstrap: true, Version: "1.2.3"}
	client := Config{Role: RoleClient, Datacenter: "dc1", NodeID: "id-3", RPCPort: 8300, Version: "1.2.3"}
	cases := []struct {
		name string
		cfg  Config
		want map[string]string
	}{
		{"server", server, map[string]string{
			"role": "consul", "dc": "dc2", "id": "id-1", "port": "8300", "expect": "3", "build": "1.2.3",
			"vsn": "2", "vsn_min": "2", "vsn_max": "3", "raft_vsn": "3"}},
		{"bootstrap server", boot, map[string]string{
			"role": "consul", "dc": "dc1", "id": "id-2", "port": "9300", "bootstrap": "1", "build": "1.2.3",
			"vsn": "2", "vsn_min": "2", "vsn_max": "3", "raft_vsn": "3"}},
		{"client", client, map[string]string{
			"role": "node", "dc": "dc1", "id": "id-3", "build": "1.2.3", "vsn": "2", "vsn_min": "2", "vsn_max": "3"}},
	}
	for _, tc := range cases {
		if got := buildTags(&tc.cfg); !maps.Equal(got, tc.want) {
			t.Errorf("%s: tags = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServersOf(t *testing.T) {
	member := func(name string, status Status, tags map[string]string) Member {
		return Member{Name: name, Addr: net.ParseIP("10.0.0.1"), Status: status, Tags: tags}
	}
	srv := func(dc, port string) map[string]string {
		return map[string]string{TagRole: TagRoleServer, TagDatacenter: dc, TagPort: port, TagID: "id-" + port}
	}
	members := []Member{
		member("s1", StatusAlive, map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc1", TagPort: "8300", TagID: "a", TagExpect: "3", TagBuild: "1.0"}),
		member("s2", StatusFailed, srv("dc1", "8300")),
		member("s3", StatusAlive, srv("dc2", "8300")),
		member("s4", StatusAlive, srv("dc1", "notaport")),
		member("c1", StatusAlive, map[string]string{TagRole: TagRoleClient, TagDatacenter: "dc1"}),
		{Name: "s6", Addr: net.ParseIP("fd00::6"), Status: StatusAlive, Tags: map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc1", TagPort: "9300", TagBootstrap: "1"}},
		member("s7", StatusAlive, map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc1", TagPort: "8300", TagExpect: "x"}),
	}
	got := serversOf(members, "dc1")
	want := []Server{
		{Name: "s1", ID: "a", Addr: "10.0.0.1:8300", Datacenter: "dc1", BootstrapExpect: 3, Build: "1.0", Status: StatusAlive},
		{Name: "s6", Addr: "[fd00::6]:9300", Datacenter: "dc1", Bootstrap: true, Status: StatusAlive},
	}
	if len(got) != len(want) {
		t.Fatalf("servers = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("server %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSubscribersDropOldestAndResync(t *testing.T) {
	subs := newSubscribers(2)
	slow, cancelSlow := subs.subscribe()
	defer cancelSlow()
	fast, cancelFast := subs.subscribe()

	for i := range 5 {
		subs.publish(Event{Kind: EventUser, LTime: uint64(i)})
		if i < 2 {
			if ev := <-fast; ev.LTime != uint64(i) || ev.Resync {
				t.Fatalf("fast subscriber got %+v", ev)
			}
		}
	}
	// slow kept the two newest events; the first it sees says it lost some.
	first, second := <-slow, <-slow
	if first.LTime != 3 || !first.Resync || second.LTime != 4 {
		t.Fatalf("slow subscriber got %+v then %+v", first, second)
	}

	cancelFast()
	cancelFast() // idempotent
	if !drainedAndClosed(fast) {
		t.Fatal("cancelled subscriber channel not closed")
	}
	subs.publish(Event{Kind: EventJoin}) // must not panic on the closed channel
	if ev := <-slow; ev.Kind != EventJoin || ev.Resync {
		t.Fatalf("slow got %+v", ev)
	}

	subs.closeAll()
	if !drainedAndClosed(slow) {
		t.Fatal("closeAll left a channel open")
	}
	late, cancel := subs.subscribe()
	cancel()
	if !drainedAndClosed(late) {
		t.Fatal("subscription after closeAll is open")
	}
}

func TestMergeDelegate(t *testing.T) {
	ids := newIDIndex()
	ids.apply(Event{Kind: EventJoin, Members: []Member{
		{Name: "live", Status: StatusAlive, Tags: map[string]string{TagID: "id-live"}},
	}})
	ids.apply(Event{Kind: EventJoin, Members: []Member{
		{Name: "gone", Status: StatusAlive, Tags: map[string]string{TagID: "id-gone"}},
	}})
	ids.apply(Event{Kind: EventFailed, Members: []Member{
		{Name: "gone", Status: StatusFailed, Tags: map[string]string{TagID: "id-gone"}},
	}})
	d := &mergeDelegate{dc: "dc1", nodeName: "me", nodeID: "id-me", ids: ids}

	m := func(name, dc, id string) *serf.Member {
		return &serf.Member{Name: name, Tags: map[string]string{TagDatacenter: dc, TagID: id}}
	}
	left := m("old", "dc1", "id-me")
	left.Status = serf.StatusLeft
	cases := []struct {
		name    string
		members []*serf.Member
		want    error
	}{
		{"fine", []*serf.Member{m("me", "dc1", "id-me"), m("a", "dc1", "id-a"), m("live", "dc1", "id-live")}, nil},
		{"self in other case", []*serf.Member{m("ME", "dc1", "id-me")}, nil},
		{"freed id of failed member", []*serf.Member{m("new", "dc1", "id-gone")}, nil},
		{"left member keeps no id", []*serf.Member{left}, nil},
		{"wrong dc", []*serf.Member{m("a", "dc1", "id-a"), m("b", "dc2", "id-b")}, ErrWrongDatacenter},
		{"no dc", []*serf.Member{{Name: "x", Tags: map[string]string{}}}, ErrWrongDatacenter},
		{"my id", []*serf.Member{m("other", "dc1", "id-me")}, ErrDuplicateNodeID},
		{"twice in batch", []*serf.Member{m("a", "dc1", "id-x"), m("b", "dc1", "id-x")}, ErrDuplicateNodeID},
		{"live member's id", []*serf.Member{m("impostor", "dc1", "id-live")}, ErrDuplicateNodeID},
	}
	for _, tc := range cases {
		err := d.NotifyMerge(tc.members)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// drainedAndClosed empties ch without blocking and reports whether it is
// closed.
func drainedAndClosed(ch <-chan Event) bool {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return true
			}
		default:
			return false
		}
	}
}

package wan

import (
	"errors"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/serfpool"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.NodeName = "s1"
		c.NodeID = "id-1"
		return c
	}
	cases := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"port zero", func(c *Config) { c.BindPort = 0 }, true},
		{"empty profile means wan", func(c *Config) { c.Profile = "" }, true},
		{"local profile", func(c *Config) { c.Profile = ProfileLocal }, true},
		{"dotted node name", func(c *Config) { c.NodeName = "web.example.com" }, true},
		{"32-byte key", func(c *Config) { c.EncryptKey = make([]byte, 32) }, true},
		{"no name", func(c *Config) { c.NodeName = "" }, false},
		{"long name", func(c *Config) { c.NodeName = string(make([]byte, 129)) }, false},
		{"no id", func(c *Config) { c.NodeID = "" }, false},
		{"no dc", func(c *Config) { c.Datacenter = "" }, false},
		{"dotted dc", func(c *Config) { c.Datacenter = "dc.1" }, false},
		{"bind not ip", func(c *Config) { c.BindAddr = "localhost" }, false},
		{"advertise not ip", func(c *Config) { c.AdvertiseAddr = "example" }, false},
		{"bind port too big", func(c *Config) { c.BindPort = 70000 }, false},
		{"negative advertise port", func(c *Config) { c.AdvertisePort = -1 }, false},
		{"no rpc port", func(c *Config) { c.RPCPort = 0 }, false},
		{"bad profile", func(c *Config) { c.Profile = "lan" }, false},
		{"bad key", func(c *Config) { c.EncryptKey = []byte("short") }, false},
		{"negative reconnect", func(c *Config) { c.ReconnectTimeout = -1 }, false},
		{"negative tick", func(c *Config) { c.RouterTick = -time.Second }, false},
		{"negative hold", func(c *Config) { c.FailureHold = -time.Second }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate err = %v, want ErrInvalidConfig", err)
			}
			if _, err2 := New(c); (err2 == nil) != tc.ok {
				t.Fatalf("New err = %v, want ok=%v", err2, tc.ok)
			}
		})
	}
}

func TestConfigDefaultsAndHoldTicks(t *testing.T) {
	c := Config{NodeName: "s1", NodeID: "id", Datacenter: "dc1"}.withDefaults()
	if c.Profile != ProfileWAN || c.RouterTick != DefaultRouterTick || c.FailureHold != DefaultFailureHold ||
		c.ReconnectTimeout != DefaultReconnectTimeout || c.TombstoneTimeout != DefaultTombstoneTimeout {
		t.Errorf("withDefaults = %+v", c)
	}
	if got := c.holdTicks(); got != 10 {
		t.Errorf("10s hold at 1s ticks = %d ticks", got)
	}
	c.RouterTick, c.FailureHold = 3*time.Second, 10*time.Second
	if got := c.holdTicks(); got != 4 {
		t.Errorf("10s hold at 3s ticks = %d ticks, want 4 (rounded up)", got)
	}
	c.RouterTick, c.FailureHold = time.Second, time.Millisecond
	if got := c.holdTicks(); got != 1 {
		t.Errorf("1ms hold = %d ticks, want 1", got)
	}
	if DefaultConfig().BindPort != 8302 {
		t.Error("default WAN port is not 8302")
	}
}

func TestSplitMemberName(t *testing.T) {
	cases := []struct {
		in, node, dc string
		ok           bool
	}{
		{"s1.dc1", "s1", "dc1", true},
		{"web.example.com.dc-2", "web.example.com", "dc-2", true},
		{"s1", "", "", false},
		{".dc1", "", "", false},
		{"s1.", "s1", "", false},
		{"s1.dc 1", "s1", "dc 1", false},
	}
	for _, tc := range cases {
		node, dc, ok := SplitMemberName(tc.in)
		if ok != tc.ok || (ok && (node != tc.node || dc != tc.dc)) {
			t.Errorf("SplitMemberName(%q) = %q, %q, %v", tc.in, node, dc, ok)
		}
	}
	if got := MemberName("s1", "dc2"); got != "s1.dc2" {
		t.Errorf("MemberName = %q", got)
	}
}

func TestBuildTags(t *testing.T) {
	c := Config{Datacenter: "dc2", NodeID: "id-1", RPCPort: 8300, Version: "1.2.3"}
	want := map[string]string{
		"role": "consul", "dc": "dc2", "id": "id-1", "port": "8300", "build": "1.2.3",
		"vsn": "2", "vsn_min": "2", "vsn_max": "3", "raft_vsn": "3",
	}
	if got := buildTags(&c); !maps.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
}

func TestServerFromMember(t *testing.T) {
	tags := map[string]string{TagRole: TagRoleServer, TagDatacenter: "dc2", TagPort: "9300", TagID: "id-7", TagBuild: "1.0"}
	s, err := ServerFromMember(Member{Name: "s7.dc2", Addr: net.ParseIP("fd00::7"), Tags: tags, Status: StatusAlive})
	want := Server{Name: "s7.dc2", Node: "s7", Datacenter: "dc2", ID: "id-7", Addr: "[fd00::7]:9300", Build: "1.0"}
	if err != nil || s != want {
		t.Errorf("ServerFromMember = %+v, %v; want %+v", s, err, want)
	}
	if _, err := ServerFromMember(Member{Name: "s7.dc2", Tags: tags}); !errors.Is(err, ErrNotServer) {
		t.Errorf("no address: %v", err)
	}
}

func TestMergeDelegate(t *testing.T) {
	srv := func(name, dc string) *serf.Member {
		return &serf.Member{Name: name, Addr: net.ParseIP("10.0.0.1"),
			Tags: map[string]string{TagRole: TagRoleServer, TagDatacenter: dc, TagPort: "8300"}}
	}
	client := srv("c1.dc1", "dc1")
	client.Tags[TagRole] = "node"
	cases := []struct {
		name    string
		members []*serf.Member
		want    error
	}{
		{"servers of two dcs with one node name", []*serf.Member{srv("s1.dc1", "dc1"), srv("s1.dc2", "dc2")}, nil},
		{"no suffix", []*serf.Member{srv("s1.dc1", "dc1"), srv("s2", "dc1")}, ErrBadMemberName},
		{"suffix disagrees with tag", []*serf.Member{srv("s1.dc1", "dc2")}, ErrBadMemberName},
		{"client", []*serf.Member{client}, ErrNotServer},
	}
	for _, tc := range cases {
		err := mergeDelegate{}.NotifyMerge(tc.members)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// fromSerfEvent converts a serf event as the pool's event loop does.
func fromSerfEvent(e serf.Event) (Event, bool) {
	ev, ok := serfpool.FromSerfEvent(e)
	if !ok {
		return Event{}, false
	}
	return fromPoolEvent(ev)
}

func TestFromSerfEvent(t *testing.T) {
	cases := []struct {
		in   serf.EventType
		want EventKind
	}{
		{serf.EventMemberJoin, EventJoin},
		{serf.EventMemberLeave, EventLeave},
		{serf.EventMemberFailed, EventFailed},
		{serf.EventMemberUpdate, EventUpdate},
		{serf.EventMemberReap, EventReap},
	}
	for _, tc := range cases {
		m := serf.Member{Name: "s1.dc1", Status: serf.StatusAlive, Tags: map[string]string{"dc": "dc1"}}
		ev, ok := fromSerfEvent(serf.MemberEvent{Type: tc.in, Members: []serf.Member{m}})
		if !ok || ev.Kind != tc.want || len(ev.Members) != 1 || ev.Members[0].Name != "s1.dc1" || ev.Members[0].StatusCode != 1 {
			t.Errorf("%v -> %+v, %v; want %v", tc.in, ev, ok, tc.want)
		}
		if ev.Kind.String() == "unknown" {
			t.Errorf("%v has no name", ev.Kind)
		}
	}
	if _, ok := fromSerfEvent(serf.UserEvent{Name: "deploy"}); ok {
		t.Error("user events are forwarded")
	}
	if _, ok := fromSerfEvent(&serf.Query{Name: "q"}); ok {
		t.Error("queries are forwarded")
	}
}

package serfpool

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

type refuseAll struct{}

func (refuseAll) NotifyMerge([]*serf.Member) error { return errors.New("no") }

func TestSerfConfigFromProfile(t *testing.T) {
	cases := []struct {
		profile string
		want    *memberlist.Config
		leave   time.Duration // serf's LeavePropagateDelay
	}{
		{ProfileLAN, memberlist.DefaultLANConfig(), serf.DefaultConfig().LeavePropagateDelay},
		{ProfileWAN, memberlist.DefaultWANConfig(), serf.DefaultConfig().LeavePropagateDelay},
		{ProfileLocal, memberlist.DefaultLocalConfig(), 500 * time.Millisecond},
	}
	for _, tc := range cases {
		key := []byte("0123456789abcdef")
		tags := map[string]string{"dc": "dc1"}
		p := New(Config{
			Kind: "test", NodeName: "n1", MemberName: "n1.dc1", Tags: tags, Profile: tc.profile,
			BindAddr: "127.0.0.1", BindPort: 7000, AdvertiseAddr: "10.0.0.1", AdvertisePort: 7001,
			EncryptKey: key, SnapshotPath: "/data/serf/x.snapshot", RejoinAfterLeave: true,
			ReconnectTimeout: time.Hour, TombstoneTimeout: time.Minute, Merge: refuseAll{},
		})
		key[0], tags["dc"] = 'X', "changed" // New copies both
		sc := p.serfConfig()
		ml := sc.MemberlistConfig
		if ml.ProbeInterval != tc.want.ProbeInterval || ml.SuspicionMult != tc.want.SuspicionMult || ml.GossipInterval != tc.want.GossipInterval {
			t.Errorf("%s: memberlist timings are not its profile's", tc.profile)
		}
		// Every profile disseminates with the LAN profile's redundancy or more.
		lan := memberlist.DefaultLANConfig()
		if ml.IndirectChecks < lan.IndirectChecks || ml.RetransmitMult < lan.RetransmitMult {
			t.Errorf("%s: IndirectChecks %d, RetransmitMult %d: less redundant than LAN's %d, %d",
				tc.profile, ml.IndirectChecks, ml.RetransmitMult, lan.IndirectChecks, lan.RetransmitMult)
		}
		if sc.LeavePropagateDelay != tc.leave {
			t.Errorf("%s: LeavePropagateDelay = %v, want %v", tc.profile, sc.LeavePropagateDelay, tc.leave)
		}
		if local := tc.profile == ProfileLocal; local != (sc.ReapInterval == time.Second && sc.ReconnectInterval == time.Second) {
			t.Errorf("%s: reap %v, reconnect %v", tc.profile, sc.ReapInterval, sc.ReconnectInterval)
		}
		if ml.BindAddr != "127.0.0.1" || ml.BindPort != 7000 || ml.AdvertiseAddr != "10.0.0.1" || ml.AdvertisePort != 7001 ||
			string(ml.SecretKey) != "0123456789abcdef" || ml.DeadNodeReclaimTime != deadNodeReclaimTime {
			t.Errorf("%s: memberlist config %+v", tc.profile, ml)
		}
		if sc.NodeName != "n1.dc1" || !maps.Equal(sc.Tags, map[string]string{"dc": "dc1"}) ||
			sc.SnapshotPath != "/data/serf/x.snapshot" || !sc.RejoinAfterLeave ||
			sc.ReconnectTimeout != time.Hour || sc.TombstoneTimeout != time.Minute || sc.Merge != (refuseAll{}) ||
			sc.EventCh == nil || sc.Logger == nil || ml.Logger == nil {
			t.Errorf("%s: serf config %+v", tc.profile, sc)
		}
	}
}

func TestNoKeyGossipsInClear(t *testing.T) {
	p := New(Config{MemberName: "n1", Profile: ProfileLAN})
	if key := p.serfConfig().MemberlistConfig.SecretKey; key != nil {
		t.Errorf("SecretKey = %x without a key", key)
	}
}

func TestValidate(t *testing.T) {
	valid := Config{NodeName: "n1", NodeID: "id", Datacenter: "dc1", BindAddr: "0.0.0.0", BindPort: 8301}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := map[string]func(*Config){
		"no name":          func(c *Config) { c.NodeName = "" },
		"long name":        func(c *Config) { c.NodeName = string(make([]byte, 129)) },
		"no id":            func(c *Config) { c.NodeID = "" },
		"dotted dc":        func(c *Config) { c.Datacenter = "dc.1" },
		"bind not ip":      func(c *Config) { c.BindAddr = "localhost" },
		"advertise not ip": func(c *Config) { c.AdvertiseAddr = "example" },
		"port too big":     func(c *Config) { c.BindPort = 70000 },
		"bad key":          func(c *Config) { c.EncryptKey = []byte("short") },
		"negative timeout": func(c *Config) { c.TombstoneTimeout = -1 },
	}
	for name, edit := range cases {
		c := valid
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// TestFlags checks each flag against a baseline loaded from the same data
// dir: the flag must change exactly the fields the case names.
func TestFlags(t *testing.T) {
	const key16 = "c2VjcmV0LWtleS0xNi1ieQ==" // 16 bytes
	tests := []struct {
		name string
		args []string
		want func(c *Config)
	}{
		{"server", []string{"-server"}, func(c *Config) {
			c.Server, c.LeaveOnTerminate, c.SkipLeaveOnInterrupt = true, false, true
		}},
		{"server=false", []string{"-server=false"}, func(c *Config) {}},
		{"bootstrap", []string{"-server", "-bootstrap"}, func(c *Config) {
			c.Server, c.Bootstrap, c.LeaveOnTerminate, c.SkipLeaveOnInterrupt = true, true, false, true
		}},
		{"bootstrap-expect", []string{"-server", "-bootstrap-expect", "3"}, func(c *Config) {
			c.Server, c.BootstrapExpect, c.LeaveOnTerminate, c.SkipLeaveOnInterrupt = true, 3, false, true
		}},
		{"bootstrap-expect 1 is bootstrap", []string{"-server", "-bootstrap-expect=1"}, func(c *Config) {
			c.Server, c.Bootstrap, c.LeaveOnTerminate, c.SkipLeaveOnInterrupt = true, true, false, true
		}},
		{"datacenter lowercased", []string{"-datacenter", "EU-West_1"}, func(c *Config) { c.Datacenter = "eu-west_1" }},
		{"dc alias", []string{"-dc", "dc2"}, func(c *Config) { c.Datacenter = "dc2" }},
		{"double dash", []string{"--dc=dc3"}, func(c *Config) { c.Datacenter = "dc3" }},
		{"last of dc and datacenter wins", []string{"-dc", "a", "-datacenter", "b"}, func(c *Config) { c.Datacenter = "b" }},
		{"node", []string{"-node", "web-1"}, func(c *Config) { c.NodeName = "web-1" }},
		{"node-id lowercased", []string{"-node-id", "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"}, func(c *Config) {
			c.NodeID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
		}},
		{"bind", []string{"-bind", "10.9.8.7"}, func(c *Config) {
			c.BindAddr, c.AdvertiseAddr, c.AdvertiseAddrWAN = "10.9.8.7", "10.9.8.7", "10.9.8.7"
		}},
		{"advertise", []string{"-advertise", "192.168.1.5"}, func(c *Config) {
			c.AdvertiseAddr, c.AdvertiseAddrWAN = "192.168.1.5", "192.168.1.5"
		}},
		{"advertise-wan", []string{"-advertise-wan", "203.0.113.9"}, func(c *Config) { c.AdvertiseAddrWAN = "203.0.113.9" }},
		{"client", []string{"-client", "0.0.0.0"}, func(c *Config) { setClient(c, "0.0.0.0") }},
		{"client ipv6", []string{"-client", "[::1]"}, func(c *Config) { setClient(c, "::1") }},
		{"client list", []string{"-client", "127.0.0.1 192.168.60.100"}, func(c *Config) { setClient(c, "127.0.0.1", "192.168.60.100") }},
		{"client template", []string{"-client", `127.0.0.2 {{ "127.0.0.3" }}`}, func(c *Config) { setClient(c, "127.0.0.2", "127.0.0.3") }},
		{"bind template", []string{"-bind", `{{ "192.168.60.100" }}`}, func(c *Config) {
			c.BindAddr, c.AdvertiseAddr, c.AdvertiseAddrWAN = "192.168.60.100", "192.168.60.100", "192.168.60.100"
		}},
		{"syslog", []string{"-syslog"}, func(c *Config) { c.EnableSyslog = true }},
		{"http-port", []string{"-http-port", "18500"}, func(c *Config) { c.Ports.HTTP = 18500 }},
		{"http-port disabled", []string{"-http-port", "-1"}, func(c *Config) { c.Ports.HTTP = PortDisabled }},
		{"dns-port", []string{"-dns-port", "8053"}, func(c *Config) { c.Ports.DNS = 8053 }},
		{"dns-port disabled", []string{"-dns-port=-1"}, func(c *Config) { c.Ports.DNS = PortDisabled }},
		{"server-port", []string{"-server-port", "18300"}, func(c *Config) { c.Ports.Server = 18300 }},
		{"server-port disabled on a client", []string{"-server-port", "-1"}, func(c *Config) { c.Ports.Server = PortDisabled }},
		{"serf-lan-port", []string{"-serf-lan-port", "18301"}, func(c *Config) { c.Ports.SerfLAN = 18301 }},
		{"serf-wan-port", []string{"-serf-wan-port", "18302"}, func(c *Config) { c.Ports.SerfWAN = 18302 }},
		{"serf-wan-port disabled", []string{"-serf-wan-port", "-1"}, func(c *Config) { c.Ports.SerfWAN = PortDisabled }},
		{"join repeatable", []string{"-join", "a", "-join", "b"}, func(c *Config) { c.StartJoin = []string{"a", "b"} }},
		{"retry-join repeatable", []string{"-retry-join", "10.0.0.1", "-retry-join", "provider=aws tag_key=x"}, func(c *Config) {
			c.RetryJoin = []string{"10.0.0.1", "provider=aws tag_key=x"}
		}},
		{"join-wan", []string{"-join-wan", "w1"}, func(c *Config) { c.StartJoinWAN = []string{"w1"} }},
		{"retry-join-wan repeatable", []string{"-retry-join-wan", "w1", "-retry-join-wan", "w2"}, func(c *Config) {
			c.RetryJoinWAN = []string{"w1", "w2"}
		}},
		{"retry-interval", []string{"-retry-interval", "5s"}, func(c *Config) { c.RetryInterval = 5 * time.Second }},
		{"retry-max", []string{"-retry-max", "4"}, func(c *Config) { c.RetryMax = 4 }},
		{"log-level", []string{"-log-level", "WARN"}, func(c *Config) { c.LogLevel = "warn" }},
		{"log-level err", []string{"-log-level", "err"}, func(c *Config) { c.LogLevel = "error" }},
		{"log-json", []string{"-log-json"}, func(c *Config) { c.LogJSON = true }},
		{"ui", []string{"-ui"}, func(c *Config) { c.UI = true }},
		{"enable-script-checks", []string{"-enable-script-checks"}, func(c *Config) { c.EnableScriptChecks = true }},
		{"enable-debug", []string{"-enable-debug"}, func(c *Config) { c.EnableDebug = true }},
		{"enable-local-script-checks", []string{"-enable-local-script-checks"}, func(c *Config) { c.EnableLocalScriptChecks = true }},
		{"node-meta repeatable", []string{"-node-meta", "rack:r1", "-node-meta", "zone:a:b", "-node-meta", "bare"}, func(c *Config) {
			c.NodeMeta = map[string]string{"rack": "r1", "zone": "a:b", "bare": ""}
		}},
		{"domain made fully qualified", []string{"-domain", "Meridian"}, func(c *Config) { c.Domain = "meridian." }},
		{"recursor repeatable", []string{"-recursor", "8.8.8.8", "-recursor", "[2001:db8::1]:5353"}, func(c *Config) {
			c.Recursors = []string{"8.8.8.8:53", "[2001:db8::1]:5353"}
		}},
		{"default-query-time", []string{"-default-query-time", "1m"}, func(c *Config) { c.DefaultQueryTime = time.Minute }},
		{"max-query-time", []string{"-max-query-time", "20m"}, func(c *Config) { c.MaxQueryTime = 20 * time.Minute }},
		{"raft-protocol", []string{"-raft-protocol", "3"}, func(c *Config) {}},
		{"pid-file", []string{"-pid-file", "/run/m.pid"}, func(c *Config) { c.PidFile = "/run/m.pid" }},
		{"encrypt", []string{"-encrypt", key16}, func(c *Config) { c.Encrypt = key16 }},
		{"hcl fragment", []string{"-hcl", `datacenter = "frag"`}, func(c *Config) { c.Datacenter = "frag" }},
		{"hcl repeatable and after flags", []string{"-hcl", `retry_join = ["h1"]`, "-dc", "flag", "-hcl", `datacenter = "frag2"`, "-retry-join", "f1"}, func(c *Config) {
			c.Datacenter, c.RetryJoin = "frag2", []string{"f1", "h1"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want, _ := mustLoad(t, "-data-dir", dir)
			tc.want(want)
			got, _ := mustLoad(t, append([]string{"-data-dir", dir}, tc.args...)...)
			sameConfig(t, got, want)
		})
	}
}

// setClient sets what -client with addrs resolves to.
func setClient(c *Config, addrs ...string) {
	c.ClientAddr, c.ClientAddrs = addrs[0], addrs
	c.HTTPAddrs, c.DNSAddrs, c.HTTPSAddrs = addrs, addrs, addrs
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	c, warnings := mustLoad(t, "-data-dir", dir)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	want := DefaultConfig()
	want.DataDir = dir
	want.NodeName = "testhost"
	want.NodeID = c.NodeID
	want.AdvertiseAddr, want.AdvertiseAddrWAN = "10.1.2.3", "10.1.2.3"
	setClient(want, "127.0.0.1")
	sameConfig(t, c, want)
	if !isUUID(c.NodeID) {
		t.Errorf("NodeID = %q, want a UUID", c.NodeID)
	}
	// The documented defaults, spelled out once.
	d := DefaultConfig()
	if d.Datacenter != "dc1" || d.BindAddr != "0.0.0.0" || d.ClientAddr != "127.0.0.1" ||
		d.Ports != (Ports{HTTP: 8500, HTTPS: -1, DNS: 8600, Server: 8300, SerfLAN: 8301, SerfWAN: 8302}) ||
		d.RetryInterval != 30*time.Second || d.RetryMax != 0 || d.LogLevel != "info" || d.Domain != "consul." ||
		d.Limits != (Limits{KVMaxValueSize: 524288, TxnMaxReqLen: 524288, TxnMaxOps: 128, HTTPMaxConnsPerClient: 200, RequestLimits: RequestLimits{Mode: "disabled", ReadRate: -1, WriteRate: -1}, RPCHoldTimeout: 7 * time.Second, RaftMultiplier: 1}) ||
		d.DefaultQueryTime != 300*time.Second || d.MaxQueryTime != 600*time.Second ||
		d.CheckUpdateInterval != 5*time.Minute || d.AEInterval != time.Minute || d.SessionTTLMin != 10*time.Second ||
		d.RaftProtocol != 3 {
		t.Errorf("DefaultConfig() = %+v, differs from the documented defaults", d)
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var help bytes.Buffer
		l := fakeHost()
		l.help = &help
		c, _, err := l.load([]string{"-dev", arg})
		if !errors.Is(err, flag.ErrHelp) || c != nil {
			t.Errorf("load(%q) = %v, %v; want nil, flag.ErrHelp", arg, c, err)
		}
		if help.String() != Usage() {
			t.Errorf("load(%q) printed %q, want the usage text", arg, help.String())
		}
	}
	// Errors are returned, never printed.
	var help bytes.Buffer
	l := fakeHost()
	l.help = &help
	if _, _, err := l.load([]string{"-nope"}); err == nil || help.Len() != 0 {
		t.Errorf("load(-nope) = %v and printed %q; want an error and no output", err, help.String())
	}
	var out bytes.Buffer
	fs := FlagSet(&out)
	if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("FlagSet.Parse(-h) = %v, want flag.ErrHelp", err)
	}
	usage := out.String()
	if usage != Usage() {
		t.Errorf("FlagSet usage and Usage() differ")
	}
	if !strings.HasPrefix(usage, "Usage: meridian agent [options]") {
		t.Errorf("usage starts with %q", usage[:min(40, len(usage))])
	}
	for _, name := range []string{
		"server", "bootstrap-expect", "bootstrap", "dev", "datacenter", "dc", "node", "node-id", "data-dir",
		"bind", "advertise", "advertise-wan", "client", "http-port", "dns-port", "server-port", "serf-lan-port",
		"serf-wan-port", "join", "retry-join", "join-wan", "retry-join-wan", "retry-interval", "retry-max",
		"config-file", "config-dir", "log-level", "log-json", "ui", "enable-script-checks",
		"enable-local-script-checks", "node-meta", "domain", "alt-domain", "recursor", "default-query-time",
		"max-query-time", "raft-protocol", "hcl", "pid-file", "encrypt",
	} {
		if fs.Lookup(name) == nil || !strings.Contains(usage, "\n  -"+name+" ") && !strings.Contains(usage, "\n  -"+name+"\n") {
			t.Errorf("flag -%s missing from the flag set or its usage", name)
		}
	}
}

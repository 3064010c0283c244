package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExampleService(t *testing.T) {
	want := []ServiceDefinition{{
		ID: "hello1", Name: "hello", Tags: []string{"primary"}, Address: "172.17.0.5", Port: 5000,
		Checks: []CheckDefinition{{
			HTTP: "http://localhost:5000/", Method: "GET", Interval: 10 * time.Second, Timeout: time.Second,
		}},
	}}
	for _, file := range []string{"example.json", "example.hcl", "example-blocks.hcl"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			c, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-config-file", path)
			if !reflect.DeepEqual(c.Services, want) {
				t.Errorf("services\n got: %+v\nwant: %+v", c.Services, want)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings = %q, want none", warnings)
			}
			if !slices.Equal(c.ConfigFiles, []string{path}) {
				t.Errorf("ConfigFiles = %q, want [%s]", c.ConfigFiles, path)
			}
		})
	}
}

// TestFullFile loads a file using every key Meridian maps, in JSON and in
// HCL, and checks both give the same, expected Config.
func TestFullFile(t *testing.T) {
	jsonPath, jsonData := copyTestdata(t, "full.json")
	hclPath, hclData := copyTestdata(t, "full.hcl")
	fromJSON, jsonWarnings := mustLoad(t, "-config-file", jsonPath)
	fromHCL, hclWarnings := mustLoad(t, "-config-file", hclPath)

	want := DefaultConfig()
	*want = Config{
		Datacenter: "east-1", NodeName: "node-a", NodeID: "0b1d0c2e-6f4a-4b8c-9d2e-1f3a5b7c9d0e",
		DataDir: jsonData, Server: true, BootstrapExpect: 3,
		BindAddr: "10.0.0.10", AdvertiseAddr: "10.0.0.11", AdvertiseAddrWAN: "203.0.113.7", ClientAddr: "0.0.0.0",
		ClientAddrs: []string{"0.0.0.0"}, HTTPAddrs: []string{"0.0.0.0"}, DNSAddrs: []string{"0.0.0.0"}, HTTPSAddrs: []string{"0.0.0.0"}, SyslogFacility: "LOCAL0", LogRotateDuration: 24 * time.Hour,
		Ports:     Ports{HTTP: 18500, HTTPS: -1, DNS: -1, Server: 18300, SerfLAN: 18301, SerfWAN: 18302},
		RetryJoin: []string{"10.0.0.1", "10.0.0.2"}, StartJoin: []string{"10.0.0.3"},
		RetryJoinWAN: []string{"198.51.100.1"}, StartJoinWAN: []string{"198.51.100.2"}, RetryIntervalWAN: 30 * time.Second,
		RetryInterval: 15 * time.Second, RetryMax: 5, RejoinAfterLeave: true, LeaveOnTerminate: true,
		LogLevel: "warn", LogJSON: true, UI: true, PidFile: "/run/meridian.pid",
		Encrypt:                 "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",
		EnableLocalScriptChecks: true, NodeMeta: map[string]string{"rack": "r1", "zone": "z-2"}, RaftProtocol: 3,
		Limits:                 Limits{KVMaxValueSize: 1048576, TxnMaxReqLen: 65536, TxnMaxOps: 64, HTTPMaxConnsPerClient: 50, RequestLimits: RequestLimits{Mode: "disabled", ReadRate: -1, WriteRate: -1}, RPCHoldTimeout: 9 * time.Second, RaftMultiplier: 2},
		DisableKVKeyValidation: true,
		DefaultQueryTime:       2 * time.Minute, MaxQueryTime: 4 * time.Minute, CheckUpdateInterval: time.Minute,
		AEInterval: time.Minute, SessionTTLMin: 5 * time.Second, ReconnectTimeout: 24 * time.Hour,
		Autopilot: DefaultAutopilot(),
		Domain:    "meridian.", Recursors: []string{"8.8.8.8:53", "[2001:db8::53]:5353"}, DNS: defaultDNSConfig(), ACL: defaultACLConfig(),
		Services: []ServiceDefinition{
			{ID: "db1", Name: "db", Port: 5432, Tags: []string{"primary", "v15"}, Checks: []CheckDefinition{
				{TTL: 30 * time.Second, DeregisterCriticalServiceAfter: 90 * time.Minute, Notes: "heartbeat"},
			}},
			{Name: "web", Port: 80, Meta: map[string]string{"version": "2"}, EnableTagOverride: true,
				Weights: &ServiceWeights{Passing: 10, Warning: 1},
				Checks: []CheckDefinition{
					{TCP: "localhost:80", Interval: 5 * time.Second},
					{Args: []string{"/bin/check", "-q"}, Interval: 30 * time.Second, Timeout: 2 * time.Second, Status: "passing"},
				}},
		},
		Checks: []CheckDefinition{
			{ID: "api", Name: "API", ServiceID: "web", HTTP: "https://localhost/health",
				Header: map[string][]string{"X-Token": {"a", "b"}}, Method: "POST", Body: "{}", TLSSkipVerify: true,
				TLSServerName: "api.local", Interval: 20 * time.Second, Timeout: 3 * time.Second},
			{ID: "mem", Name: "Memory", GRPC: "localhost:9090/health", GRPCUseTLS: true, Interval: 10 * time.Second,
				SuccessBeforePassing: 2, FailuresBeforeCritical: 3, FailuresBeforeWarning: 1},
		},
		Watches:   []map[string]any{{"type": "key", "key": "cfg/x", "args": []any{"/bin/handler"}, "datacenter": "east-1", "limit": float64(3)}},
		Telemetry: Telemetry{MetricsPrefix: DefaultMetricsPrefix, PrometheusRetentionTime: time.Minute},
	}
	want.ACL.Set = true // both files have an acl block (enabled = false)
	sameConfig(t, fromJSON, want)
	want.DataDir = hclData
	sameConfig(t, fromHCL, want)

	wantWarnings := []string{
		`key "limits.rpc_rate" is a Consul option Meridian does not use yet; ignored`,
		`key "ports.grpc" is a Consul option Meridian does not use yet; ignored`,
		`key "ui_config.content_path" is a Consul option Meridian does not use yet; ignored`,
		`key "checks[0].token" is a Consul option Meridian does not use yet; ignored`,
	}
	for path, warnings := range map[string][]string{jsonPath: jsonWarnings, hclPath: hclWarnings} {
		for _, w := range wantWarnings {
			if !slices.Contains(warnings, "config file "+quote(path)+": "+w) {
				t.Errorf("%s: warnings %q lack %q", filepath.Base(path), warnings, w)
			}
		}
		if len(warnings) != len(wantWarnings) {
			t.Errorf("%s: got %d warnings, want %d: %q", filepath.Base(path), len(warnings), len(wantWarnings), warnings)
		}
	}
}

func quote(s string) string { return `"` + s + `"` }

// TestConfigDirMerge checks lexical order within a directory, command-line
// order between sources, scalar override, list append, map overlay and
// flag precedence.
func TestConfigDirMerge(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "conf.d")
	a := writeFile(t, dir, "10-a.json", `{"datacenter": "a", "retry_join": ["j1"], "node_meta": {"k1": "a", "k2": "a"},
		"services": [{"name": "s1"}], "log_level": "debug"}`)
	b := writeFile(t, dir, "20-b.hcl", `datacenter = "b"
retry_join = ["j2"]
node_meta { k2 = "b" }
service { name = "s2" }`)
	writeFile(t, dir, "30-ignored.txt", "not a config file {")
	writeFile(t, dir, "40-dir.json/inner.json", `{"datacenter": "inner"}`)
	writeFile(t, dir, "05-sub/x.json", `{"datacenter": "sub"}`)
	last := writeFile(t, root, "last.json", `{"datacenter": "last", "retry_join": ["j3"], "node_name": "from-file"}`)
	dataDir := filepath.Join(root, "data")

	c, _ := mustLoad(t, "-data-dir", dataDir, "-config-dir", dir, "-retry-join", "flag", "-config-file", last, "-node", "from-flag")
	if want := []string{a, b, last}; !slices.Equal(c.ConfigFiles, want) {
		t.Errorf("ConfigFiles = %q, want %q", c.ConfigFiles, want)
	}
	if c.Datacenter != "last" {
		t.Errorf("Datacenter = %q, want the last file's", c.Datacenter)
	}
	if c.NodeName != "from-flag" {
		t.Errorf("NodeName = %q, want the flag's", c.NodeName)
	}
	if want := []string{"j1", "j2", "j3", "flag"}; !slices.Equal(c.RetryJoin, want) {
		t.Errorf("RetryJoin = %q, want %q", c.RetryJoin, want)
	}
	if want := map[string]string{"k1": "a", "k2": "b"}; !reflect.DeepEqual(c.NodeMeta, want) {
		t.Errorf("NodeMeta = %v, want %v", c.NodeMeta, want)
	}
	if len(c.Services) != 2 || c.Services[0].Name != "s1" || c.Services[1].Name != "s2" {
		t.Errorf("Services = %+v, want s1 then s2", c.Services)
	}
	if c.LogLevel != "debug" {
		t.Errorf("LogLevel = %q, want debug from 10-a.json", c.LogLevel)
	}

	// Flags override every file whatever their position.
	c, _ = mustLoad(t, "-dc", "flagdc", "-data-dir", dataDir, "-config-dir", dir)
	if c.Datacenter != "flagdc" {
		t.Errorf("Datacenter = %q, want the flag's", c.Datacenter)
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	file := func(name, content string) string { return writeFile(t, dir, name, content) }
	tests := []struct {
		name string
		path string
		kind error
		want string // "%s" is the file path
	}{
		{"unknown top-level key", file("u1.json", `{"datacenter": "x", "datacentre": "y"}`), ErrUnknownKey,
			`config file "%s": invalid config key "datacentre"`},
		{"unknown key in hcl", file("u2.hcl", `bind = "1.2.3.4"`), ErrUnknownKey,
			`config file "%s": invalid config key "bind"`},
		{"unknown nested key", file("u3.json", `{"ports": {"htp": 1}}`), ErrUnknownKey,
			`config file "%s": invalid config key "ports.htp"`},
		{"unknown service key", file("u4.json", `{"services": [{"name": "a", "prot": 1}]}`), ErrUnknownKey,
			`config file "%s": invalid config key "services[0].prot"`},
		{"unknown check key", file("u5.hcl", `service { name = "a" check { htp = "x" } }`), ErrUnknownKey,
			`config file "%s": invalid config key "service[0].check[0].htp"`},
		{"bad extension", file("c.yaml", `datacenter: x`), ErrInvalid,
			`config file "%s": missing or invalid file extension; please use .json or .hcl`},
		{"json syntax", file("s.json", `{"datacenter": }`), ErrInvalid,
			`config file "%s": invalid character '}' looking for beginning of value`},
		{"json not an object", file("s2.json", `["a"]`), ErrInvalid,
			`config file "%s": expected a JSON object at the top level, got a list`},
		{"json trailing data", file("s3.json", `{} {}`), ErrInvalid,
			`config file "%s": unexpected data after the top-level JSON object`},
		{"empty json", file("s4.json", ``), ErrInvalid, `config file "%s": empty JSON document`},
		{"hcl syntax", file("s.hcl", `datacenter = "x`), ErrInvalid,
			`config file "%s": At 1:16: literal not terminated`},
		{"bad duration", file("d.json", `{"retry_interval": "soon"}`), ErrInvalid,
			`config file "%s": retry_interval: invalid duration "soon"`},
		{"duration not a string", file("d2.json", `{"max_query_time": 10}`), ErrInvalid,
			`config file "%s": max_query_time: expected a duration string such as "10s", got a number`},
		{"bad check duration", file("d3.hcl", `check { name = "c" ttl = "1x" }`), ErrInvalid,
			`config file "%s": check[0].ttl: invalid duration "1x"`},
		{"negative check interval", file("d4.json", `{"checks": [{"name": "c", "tcp": "x:1", "interval": "-1s"}]}`), ErrInvalid,
			`config file "%s": checks[0].interval: duration -1s must not be negative`},
		{"wrong type", file("t.json", `{"server": "yes"}`), ErrInvalid,
			`config file "%s": server: expected a boolean, got "yes"`},
		{"float port", file("t2.json", `{"ports": {"http": 80.5}}`), ErrInvalid,
			`config file "%s": ports.http: expected an integer, got "80.5"`},
		{"list element type", file("t3.json", `{"retry_join": ["a", 1]}`), ErrInvalid,
			`config file "%s": retry_join: element 1: expected a string, got a number`},
		{"service without name", file("v1.json", `{"service": {"port": 80}}`), ErrInvalid,
			`config file "%s": service[0]: missing service name`},
		{"service port range", file("v2.json", `{"service": {"name": "a", "port": 70000}}`), ErrInvalid,
			`config file "%s": service[0]: port 70000 out of range 0-65535`},
		{"service weights", file("v3.json", `{"service": {"name": "a", "weights": {"passing": 0}}}`), ErrInvalid,
			`config file "%s": service[0]: invalid weights: passing must be at least 1 and warning at least 0`},
		{"service meta", file("v4.json", `{"service": {"name": "a", "meta": {"consul-x": "1"}}}`), ErrInvalid,
			`config file "%s": service[0]: meta invalid: key "consul-x": key prefix 'consul-' is reserved for internal use`},
		{"check without kind", file("v5.json", `{"check": {"name": "c", "interval": "1s"}}`), ErrInvalid,
			`config file "%s": check[0]: check must define one of http, tcp, udp, grpc, h2ping, args, ttl or alias_service/alias_node`},
		{"check with two kinds", file("v6.json", `{"check": {"name": "c", "http": "http://x", "tcp": "x:1", "interval": "1s"}}`), ErrInvalid,
			`config file "%s": check[0]: check must define only one of http, tcp, udp, grpc, h2ping, args, ttl or alias_service/alias_node, got http, tcp`},
		{"check without interval", file("v7.json", `{"service": {"name": "a", "check": {"http": "http://x"}}}`), ErrInvalid,
			`config file "%s": service[0].check[0]: interval must be > 0 for http checks`},
		{"check without name", file("v8.json", `{"checks": [{"ttl": "10s"}]}`), ErrInvalid,
			`config file "%s": checks[0]: missing check name`},
		{"check status", file("v9.json", `{"check": {"name": "c", "ttl": "10s", "status": "ok"}}`), ErrInvalid,
			`config file "%s": check[0].status: status must be 'passing', 'warning' or 'critical', got "ok"`},
		{"negative check count", file("v10.json", `{"check": {"name": "c", "ttl": "1s", "failures_before_critical": -2}}`), ErrInvalid,
			`config file "%s": check[0].failures_before_critical: must not be negative, got -2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := loadErr(t, "-data-dir", dataDir, "-config-file", tc.path)
			assertErr(t, err, tc.kind, strings.ReplaceAll(tc.want, "%s", tc.path))
		})
	}

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.json")
		err := loadErr(t, "-data-dir", dataDir, "-config-file", missing)
		if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrInvalid) {
			t.Errorf("error %v: want fs.ErrNotExist and ErrInvalid", err)
		}
		if !strings.HasPrefix(err.Error(), `config file "`+missing+`": `) {
			t.Errorf("error %q does not name the file", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		err := loadErr(t, "-data-dir", dataDir, "-config-dir", filepath.Join(dir, "nodir"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v: want fs.ErrNotExist", err)
		}
	})
	t.Run("bad file in config dir", func(t *testing.T) {
		confDir := filepath.Join(dir, "bad.d")
		writeFile(t, confDir, "a.json", `{}`)
		bad := writeFile(t, confDir, "b.hcl", `unknown_thing = true`)
		err := loadErr(t, "-data-dir", dataDir, "-config-dir", confDir)
		assertErr(t, err, ErrUnknownKey, `config file "`+bad+`": invalid config key "unknown_thing"`)
	})
	t.Run("unknown key in -hcl", func(t *testing.T) {
		err := loadErr(t, "-data-dir", dataDir, "-hcl", `ui = true`, "-hcl", `foo = 1`)
		assertErr(t, err, ErrUnknownKey, `-hcl fragment 2: invalid config key "foo"`)
	})
}

func TestJSONNullIsUnset(t *testing.T) {
	path := writeFile(t, t.TempDir(), "n.json", `{"datacenter": null, "retry_join": null, "ports": {"http": null}}`)
	c, _ := mustLoad(t, "-data-dir", t.TempDir(), "-config-file", path)
	if c.Datacenter != "dc1" || c.Ports.HTTP != 8500 || c.RetryJoin != nil {
		t.Errorf("null values changed the config: dc=%q http=%d retry_join=%q", c.Datacenter, c.Ports.HTTP, c.RetryJoin)
	}
}

func TestUIConfigAndTopLevelKVLimit(t *testing.T) {
	path := writeFile(t, t.TempDir(), "u.hcl", "ui_config { enabled = true }\nkv_max_value_size = 1024\n")
	c, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-config-file", path)
	if !c.UI || c.Limits.KVMaxValueSize != 1024 {
		t.Errorf("UI = %v, KVMaxValueSize = %d; want true, 1024", c.UI, c.Limits.KVMaxValueSize)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
}

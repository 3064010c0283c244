package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidationErrors(t *testing.T) {
	root := t.TempDir()
	notDir := writeFile(t, root, "file", "x")
	dataDir := filepath.Join(root, "data")
	many := make([]string, 0, 2*65)
	for i := range 65 {
		many = append(many, "-node-meta", fmt.Sprintf("k%d:v", i))
	}
	long := strings.Repeat("k", 129)

	tests := []struct {
		name string
		args []string // -data-dir is added unless the case sets it or -dev
		want string
	}{
		{"data dir required", []string{"-data-dir", ""}, "data_dir cannot be empty"},
		{"data dir is a file", []string{"-data-dir", notDir}, fmt.Sprintf("data_dir %q is not a directory", notDir)},
		{"bootstrap with bootstrap-expect", []string{"-server", "-bootstrap", "-bootstrap-expect", "3"},
			"'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive"},
		{"bootstrap-expect without server", []string{"-bootstrap-expect", "3"}, "'bootstrap_expect > 0' requires 'server = true'"},
		{"bootstrap without server", []string{"-bootstrap"}, "'bootstrap = true' requires 'server = true'"},
		{"negative bootstrap-expect", []string{"-server", "-bootstrap-expect", "-2"}, "bootstrap_expect cannot be negative"},
		{"bootstrap-expect in dev", []string{"-dev", "-bootstrap-expect", "3"}, "'bootstrap_expect > 0' not allowed in dev mode"},
		{"port zero", []string{"-http-port", "0"}, "ports.http: invalid port 0 (must be 1-65535, or -1 to disable)"},
		{"port too large", []string{"-dns-port", "65536"}, "ports.dns: invalid port 65536 (must be 1-65535, or -1 to disable)"},
		{"port below -1", []string{"-serf-wan-port", "-2"}, "ports.serf_wan: invalid port -2 (must be 1-65535, or -1 to disable)"},
		{"duplicate ports", []string{"-serf-lan-port", "8500"}, "ports.http and ports.serf_lan both use port 8500"},
		{"duplicate ports from a file", []string{"-hcl", "ports { http = 8300 }"}, "ports.http and ports.server both use port 8300"},
		{"disabled ports are not duplicates", []string{"-http-port", "-1", "-dns-port", "-1", "-serf-lan-port", "-1"},
			"ports.serf_lan cannot be disabled: every agent joins the LAN pool"},
		{"server port disabled on a server", []string{"-server", "-server-port", "-1"}, "ports.server cannot be disabled on a server"},
		{"bad duration flag", []string{"-retry-interval", "soon"}, `invalid value "soon" for flag -retry-interval: invalid duration "soon"`},
		{"negative duration", []string{"-retry-interval", "-1s"}, "retry_interval must be > 0, got -1s"},
		{"zero query time", []string{"-default-query-time", "0s"}, "default_query_time must be > 0, got 0s"},
		{"max query time", []string{"-max-query-time", "-5m"}, "max_query_time must be > 0, got -5m0s"},
		{"rpc hold timeout", []string{"-hcl", `performance { rpc_hold_timeout = "0s" }`}, "performance.rpc_hold_timeout must be > 0, got 0s"},
		{"raft multiplier too large", []string{"-hcl", `performance { raft_multiplier = 11 }`}, "performance.raft_multiplier cannot be 11. Must be between 1 and 10"},
		{"raft multiplier zero", []string{"-hcl", `performance { raft_multiplier = 0 }`}, "performance.raft_multiplier cannot be 0. Must be between 1 and 10"},
		{"negative check update interval", []string{"-hcl", `check_update_interval = "-1m"`}, "check_update_interval must not be negative, got -1m0s"},
		{"reconnect timeout", []string{"-hcl", `reconnect_timeout = "1h"`}, "reconnect_timeout must be >= 8h0m0s, got 1h0m0s"},
		{"bad duration in hcl", []string{"-hcl", `session_ttl_min = "10"`}, `-hcl fragment 1: session_ttl_min: invalid duration "10"`},
		{"negative retry max", []string{"-retry-max", "-1"}, "retry_max cannot be negative"},
		{"bad int flag", []string{"-http-port", "http"}, `invalid value "http" for flag -http-port: expected an integer, got "http"`},
		{"bad bool flag", []string{"-server=maybe"}, `invalid boolean value "maybe" for -server: expected true or false`},
		{"unknown flag", []string{"-datacentre", "x"}, "flag provided but not defined: -datacentre"},
		{"extra argument", []string{"-server", "extra"}, `unexpected argument "extra"`},
		{"node meta key too long", []string{"-node-meta", long + ":v"},
			`node_meta invalid: key "kkkkkkkkkkkkkkkkkkkk"...: key is too long (limit: 128 characters)`},
		{"node meta key characters", []string{"-node-meta", "a.b:v"}, `node_meta invalid: key "a.b": key contains invalid characters`},
		{"node meta blank key", []string{"-node-meta", ":v"}, "node_meta invalid: key cannot be blank"},
		{"node meta reserved prefix", []string{"-node-meta", "consul-version:1"},
			`node_meta invalid: key "consul-version": key prefix 'consul-' is reserved for internal use`},
		{"node meta value too long", []string{"-node-meta", "k:" + strings.Repeat("v", 513)},
			`node_meta invalid: key "k": value is too long (limit: 512 characters)`},
		{"node meta too many pairs", many, "node_meta invalid: cannot contain more than 64 key/value pairs"},
		{"datacenter characters", []string{"-dc", "dc.1"}, `datacenter "dc.1" can only contain lowercase alphanumeric, - or _ characters`},
		{"datacenter empty", []string{"-dc", " "}, "datacenter cannot be empty"},
		{"node id", []string{"-node-id", "not-a-uuid"}, `node_id "not-a-uuid" is not a valid UUID`},
		{"log level", []string{"-log-level", "verbose"}, `invalid log_level "verbose" (valid: trace, debug, info, warn, error)`},
		{"raft protocol", []string{"-raft-protocol", "2"}, "raft_protocol 2 is not supported (only 3)"},
		{"encrypt base64", []string{"-encrypt", "not base64!"}, "encrypt has invalid key: illegal base64 data at input byte 3"},
		{"encrypt size", []string{"-encrypt", "c2hvcnQ="}, "encrypt has invalid key: must be 16, 24 or 32 bytes, got 5"},
		{"limits", []string{"-hcl", "limits { txn_max_ops = 0 }"}, "limits.txn_max_ops must be > 0, got 0"},
		{"domain", []string{"-domain", "a..b"}, `domain "a..b." is not a valid DNS domain`},
		{"bind not an IP", []string{"-bind", "host.example"}, `bind_addr "host.example" is not a valid IP address`},
		{"client not an IP", []string{"-client", "localhost"}, `client_addr "localhost" is not a valid IP address`},
		{"advertise unspecified", []string{"-advertise", "0.0.0.0"}, "advertise_addr cannot be 0.0.0.0, :: or [::]"},
		{"advertise wan not an IP", []string{"-advertise-wan", "wan"}, `advertise_addr_wan "wan" is not a valid IP address`},
		{"recursor", []string{"-recursor", "dns.google"}, `recursor "dns.google" is not a valid IP address or IP:port`},
		{"script checks disabled", []string{"-hcl", `service { name = "s" check { args = ["true"] interval = "1s" } }`},
			"service \"s\": scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"},
		{"script node check disabled", []string{"-hcl", `check { name = "c" args = ["true"] interval = "1s" }`},
			"check \"c\": scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !hasArg(args, "-data-dir") && !hasArg(args, "-dev") {
				args = append([]string{"-data-dir", dataDir}, args...)
			}
			assertErr(t, loadErr(t, args...), ErrInvalid, tc.want)
		})
	}
}

func hasArg(args []string, name string) bool {
	for _, a := range args {
		if a == name {
			return true
		}
	}
	return false
}

func TestScriptChecksAllowed(t *testing.T) {
	for _, flag := range []string{"-enable-script-checks", "-enable-local-script-checks"} {
		c, _ := mustLoad(t, "-dev", flag, "-hcl", `check { name = "c" script_args = ["true"] interval = "1s" }`)
		if len(c.Checks) != 1 || len(c.Checks[0].Args) != 1 {
			t.Errorf("%s: checks = %+v, want the script check", flag, c.Checks)
		}
	}
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-server", "-bootstrap-expect", "2"}, "bootstrap_expect = 2: a cluster with 2 servers will provide no failure tolerance"},
		{[]string{"-server", "-bootstrap-expect", "4"}, "bootstrap_expect = 4 is even: a cluster with an even number of servers does not achieve optimum fault tolerance"},
		{[]string{"-server", "-bootstrap"}, "bootstrap mode enabled: do not enable unless necessary"},
		{[]string{"-server", "-bootstrap-expect", "1"}, "bootstrap_expect = 1 is the same as bootstrap mode; using -bootstrap"},
		{[]string{"-node", "web.example.com"}, `node name "web.example.com" will not be discoverable via DNS due to invalid characters; valid characters are alphanumerics and dashes`},
		{[]string{"-node", strings.Repeat("n", 64)}, `node name "` + strings.Repeat("n", 64) + `" will not be discoverable via DNS: it is longer than 63 characters`},
		{[]string{"-hcl", `telemetry { dogstatsd_addr = "127.0.0.1:8125" }`}, `-hcl fragment 1: key "telemetry.dogstatsd_addr" is a Consul option Meridian does not use yet; ignored`},
	}
	for _, tc := range tests {
		_, warnings := mustLoad(t, append([]string{"-data-dir", dir}, tc.args...)...)
		found := false
		for _, w := range warnings {
			found = found || w == tc.want
		}
		if !found {
			t.Errorf("%q: warnings %q lack %q", tc.args, warnings, tc.want)
		}
	}
}

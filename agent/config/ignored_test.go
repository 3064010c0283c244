package config

import (
	"flag"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const testKey = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="

// keyCases is the classification of every config-file key Meridian
// decodes: a valid sample value, and whether Meridian acts on it. A key
// not acted on must load with exactly one warning naming it; a key acted
// on must load with none. raft_protocol counts as acted on: 3 is the only
// value accepted and the one Meridian runs.
var keyCases = map[string]struct {
	json    string // the key's value, as JSON
	ignored bool
}{
	"datacenter":                       {`"east"`, false},
	"data_dir":                         {`"DATADIR"`, false},
	"node_name":                        {`"n1"`, false},
	"node_id":                          {`"0b1d0c2e-6f4a-4b8c-9d2e-1f3a5b7c9d0e"`, false},
	"server":                           {`true`, false},
	"bootstrap":                        {`false`, false},
	"bootstrap_expect":                 {`0`, false},
	"bind_addr":                        {`"10.1.2.3"`, false},
	"advertise_addr":                   {`"10.1.2.4"`, false},
	"advertise_addr_wan":               {`"10.1.2.5"`, false},
	"client_addr":                      {`"127.0.0.2"`, false},
	"addresses.http":                   {`"127.0.0.2"`, false},
	"addresses.dns":                    {`"127.0.0.2"`, false},
	"enable_syslog":                    {`true`, false},
	"syslog_facility":                  {`"LOCAL1"`, false},
	"ports.http":                       {`18500`, false},
	"ports.server":                     {`18300`, false},
	"ports.serf_lan":                   {`18301`, false},
	"ports.dns":                        {`18600`, false},
	"ports.serf_wan":                   {`18302`, false},
	"retry_join":                       {`["10.0.0.1"]`, false},
	"start_join":                       {`["10.0.0.1"]`, false},
	"retry_join_wan":                   {`["10.0.0.1"]`, false},
	"start_join_wan":                   {`["10.0.0.1"]`, false},
	"retry_interval_wan":               {`"10s"`, false},
	"retry_interval":                   {`"10s"`, false},
	"retry_max":                        {`3`, false},
	"rejoin_after_leave":               {`true`, false},
	"leave_on_terminate":               {`true`, false},
	"skip_leave_on_interrupt":          {`true`, false},
	"log_level":                        {`"warn"`, false},
	"log_json":                         {`true`, false},
	"ui":                               {`true`, false},
	"ui_config.enabled":                {`true`, false},
	"ui_config.dir":                    {`"DATADIR"`, false},
	"ui_dir":                           {`"DATADIR"`, false},
	"pid_file":                         {`"/run/meridian.pid"`, false},
	"log_file":                         {`"/var/log/meridian/"`, false},
	"log_rotate_bytes":                 {`1048576`, false},
	"log_rotate_duration":              {`"12h"`, false},
	"log_rotate_max_files":             {`5`, false},
	"encrypt":                          {`"` + testKey + `"`, false},
	"disable_keyring_file":             {`true`, false},
	"enable_debug":                     {`true`, false},
	"enable_script_checks":             {`true`, false},
	"enable_local_script_checks":       {`true`, false},
	"node_meta":                        {`{"rack": "r1"}`, false},
	"raft_protocol":                    {`3`, false},
	"limits.kv_max_value_size":         {`1024`, false},
	"limits.txn_max_req_len":           {`1024`, false},
	"limits.txn_max_ops":               {`8`, false},
	"limits.http_max_conns_per_client": {`10`, false},
	"limits.request_limits":            {`{"mode": "enforcing", "read_rate": 100.5, "write_rate": 10}`, false},
	"performance.rpc_hold_timeout":     {`"3s"`, false},
	"performance.raft_multiplier":      {`5`, false},
	"kv_max_value_size":                {`1024`, false},
	"disable_kv_key_validation":        {`true`, false},
	"default_query_time":               {`"1m"`, false},
	"max_query_time":                   {`"2m"`, false},
	"check_update_interval":            {`"1m"`, false},
	"session_ttl_min":                  {`"5s"`, false},
	"reconnect_timeout":                {`"9h"`, false},
	"domain":                           {`"meridian"`, false},
	"alt_domain":                       {`"meridian"`, false},
	"recursors":                        {`["8.8.8.8"]`, false},
	"acl.enabled":                      {`true`, false},
	"primary_datacenter":               {`"dc1"`, false},
	"acl.default_policy":               {`"deny"`, false},
	"acl.down_policy":                  {`"extend-cache"`, false},
	"acl.token_ttl":                    {`"10s"`, false},
	"acl.enable_token_persistence":     {`true`, false},
	"acl.tokens":                       {`{"initial_management": "root", "agent": "a", "default": "d", "replication": "r", "agent_recovery": "ar"}`, false},
	"dns_config.allow_stale":           {`false`, false},
	"dns_config.max_stale":             {`"5s"`, false},
	"dns_config.node_ttl":              {`"30s"`, false},
	"dns_config.service_ttl":           {`{"*": "5s", "web": "10s"}`, false},
	"dns_config.only_passing":          {`true`, false},
	"dns_config.enable_truncate":       {`true`, false},
	"dns_config.udp_answer_limit":      {`5`, false},
	"dns_config.a_record_limit":        {`2`, false},
	"dns_config.disable_compression":   {`true`, false},
	"dns_config.recursor_strategy":     {`"random"`, false},
	"dns_config.recursor_timeout":      {`"1s"`, false},
	"dns_config.soa":                   {`{"refresh": 60, "retry": 30, "expire": 600, "min_ttl": 5}`, false},
	"dns_config.enable_additional_node_meta_txt": {`false`, false},
	"dns_config.use_cache":                       {`true`, false},
	"dns_config.cache_max_age":                   {`"10s"`, false},
	"services":                                   {`[{"name": "web"}]`, false},
	"service":                                    {`{"name": "web"}`, false},
	"checks":                                     {`[{"name": "c", "ttl": "10s"}]`, false},
	"check":                                      {`{"name": "c", "ttl": "10s"}`, false},
	"watches":                                    {`[{"type": "key", "key": "k", "args": ["/bin/true"]}]`, false},
	"kv_replication":                             {`{"source_datacenter": "", "prefixes": [], "exclude": []}`, false},
	"autopilot.cleanup_dead_servers":             {`false`, false},
	"autopilot.last_contact_threshold":           {`"300ms"`, false},
	"autopilot.max_trailing_logs":                {`500`, false},
	"autopilot.min_quorum":                       {`3`, false},
	"autopilot.server_stabilization_time":        {`"5s"`, false},
	"tls.defaults":                               {`{"ca_file": "DATADIR/ca/ca.pem", "ca_path": "DATADIR/ca", "cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem", "verify_incoming": true, "verify_outgoing": true, "tls_min_version": "TLSv1_2", "tls_cipher_suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}`, false},
	"tls.https":                                  {`{"ca_file": "DATADIR/ca/ca.pem", "cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem", "verify_incoming": true, "tls_min_version": "TLSv1_3"}`, false},
	"tls.internal_rpc":                           {`{"ca_file": "DATADIR/ca/ca.pem", "cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem", "verify_incoming": true, "verify_outgoing": true, "verify_server_hostname": true, "tls_cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]}`, false},
	"ca_file":                                    {`"DATADIR/ca/ca.pem"`, false},
	"ca_path":                                    {`"DATADIR/ca"`, false},
	"cert_file":                                  {`"DATADIR/cert.pem"`, false},
	"key_file":                                   {`"DATADIR/key.pem"`, false},
	"tls_min_version":                            {`"tls12"`, false},
	"tls_cipher_suites":                          {`"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"`, false},
	"verify_incoming":                            {`true`, false},
	"verify_incoming_rpc":                        {`true`, false},
	"verify_incoming_https":                      {`true`, false},
	"verify_outgoing":                            {`true`, false},
	"verify_server_hostname":                     {`true`, false},
	"ports.https":                                {`18501`, false},
	"addresses.https":                            {`"127.0.0.2"`, false},
	"raft_logstore":                              {`{"backend": "boltdb", "wal": {"segment_size_mb": 16}}`, false},
	"telemetry.metrics_prefix":                   {`"consul"`, false},
	"telemetry.disable_hostname":                 {`true`, false},
	"telemetry.prometheus_retention_time":        {`"60s"`, false},
	"telemetry.statsd_address":                   {`"127.0.0.1:8125"`, false},
}

// keyExtras are other top-level members a key needs to be valid
// (cert_file needs key_file), as JSON.
var keyExtras = map[string]string{
	"cert_file":              `"key_file": "DATADIR/key.pem"`,
	"key_file":               `"cert_file": "DATADIR/cert.pem"`,
	"verify_incoming":        `"ca_file": "DATADIR/ca/ca.pem", "cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem"`,
	"verify_incoming_rpc":    `"ca_file": "DATADIR/ca/ca.pem", "cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem"`,
	"verify_incoming_https":  `"ca_file": "DATADIR/ca/ca.pem", "cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem"`,
	"verify_outgoing":        `"ca_file": "DATADIR/ca/ca.pem"`,
	"verify_server_hostname": `"ca_file": "DATADIR/ca/ca.pem"`,
	"ports.https":            `"cert_file": "DATADIR/cert.pem", "key_file": "DATADIR/key.pem"`,
}

func keysOf[T any](o object[T]) []string { return slices.Collect(maps.Keys(o.keys)) }

// decodedKeys lists every key path the decoder maps (nested objects as
// "ports.http").
func decodedKeys() []string {
	nested := map[string][]string{
		"ports": keysOf(portsObject), "limits": keysOf(limitsObject),
		"performance": keysOf(performanceObject), "ui_config": keysOf(uiConfigObject),
		"dns_config": keysOf(dnsConfigObject), "addresses": keysOf(addressesObject), "acl": keysOf(aclObject),
		"autopilot": keysOf(autopilotObject),
		"tls":       keysOf(tlsObject),
		"telemetry": keysOf(telemetryObject),
	}
	var out []string
	for _, k := range keysOf(topLevel) {
		if sub, ok := nested[k]; ok {
			for _, s := range sub {
				out = append(out, k+"."+s)
			}
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// jsonFor wraps a value at a key path ("a.b") into a JSON document.
func jsonFor(path, value string) string {
	parts := strings.Split(path, ".")
	doc := value
	for i := len(parts) - 1; i >= 0; i-- {
		doc = `{"` + parts[i] + `": ` + doc + `}`
	}
	return doc
}

func TestEveryDecodedKeyIsClassified(t *testing.T) {
	for _, k := range decodedKeys() {
		if _, ok := keyCases[k]; !ok {
			t.Errorf("config key %q is decoded but not in keyCases: say whether Meridian acts on it", k)
		}
	}
	for k := range keyCases {
		if !slices.Contains(decodedKeys(), k) {
			t.Errorf("keyCases names %q, which the decoder does not map", k)
		}
	}
}

// TestKeysNotActedOnWarnOnce loads each decoded key on its own, from a
// JSON file and from an -hcl fragment: a key Meridian does not act on
// gives exactly one warning, naming it and its source; any other key none.
func TestKeysNotActedOnWarnOnce(t *testing.T) {
	for _, path := range decodedKeys() {
		tc := keyCases[path]
		t.Run(path, func(t *testing.T) {
			dir := t.TempDir()
			writeTestPKI(t, dir)
			value := strings.ReplaceAll(tc.json, "DATADIR", dir)
			doc := jsonFor(path, value)
			if extra := keyExtras[path]; extra != "" {
				doc = strings.TrimSuffix(doc, "}") + ", " + strings.ReplaceAll(extra, "DATADIR", dir) + "}"
			}
			file := writeFile(t, dir, "c.json", doc)
			_, warnings := mustLoad(t, "-data-dir", dir, "-config-file", file)
			if !tc.ignored {
				if len(warnings) != 0 {
					t.Fatalf("a key Meridian acts on gave warnings %q", warnings)
				}
				return
			}
			want := `config file "` + file + `": key "` + path + `" is accepted but not acted on: `
			if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
				t.Fatalf("warnings = %q, want one starting %q", warnings, want)
			}
			// The same key in a file and in an -hcl fragment: one warning
			// per source, each naming where it came from.
			_, warnings = mustLoad(t, "-data-dir", dir, "-config-file", file, "-hcl", jsonFor(path, value))
			if len(warnings) != 2 || !strings.HasPrefix(warnings[0], want) ||
				!strings.HasPrefix(warnings[1], `-hcl fragment 1: key "`+path+`" is accepted but not acted on: `) {
				t.Fatalf("file and -hcl: warnings = %q", warnings)
			}
		})
	}
}

// TestRepeatedKeyWarnsOnce: HCL blocks repeat; the key is named once.
func TestRepeatedKeyWarnsOnce(t *testing.T) {
	_, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-hcl", "limits { rpc_rate = 10 }\nlimits { rpc_rate = 20 }")
	want := []string{`-hcl fragment 1: key "limits.rpc_rate" is a Consul option Meridian does not use yet; ignored`}
	if !slices.Equal(warnings, want) {
		t.Fatalf("warnings = %q, want %q", warnings, want)
	}
}

// flagCases classifies every agent flag like keyCases.
var flagCases = map[string]struct {
	args    []string
	ignored bool
}{
	"dev":                        {[]string{"-dev"}, false},
	"server":                     {[]string{"-server"}, false},
	"bootstrap":                  {[]string{"-server", "-bootstrap=false"}, false},
	"bootstrap-expect":           {[]string{"-server", "-bootstrap-expect", "3"}, false},
	"datacenter":                 {[]string{"-datacenter", "east"}, false},
	"dc":                         {[]string{"-dc", "east"}, false},
	"node":                       {[]string{"-node", "n1"}, false},
	"node-id":                    {[]string{"-node-id", "0b1d0c2e-6f4a-4b8c-9d2e-1f3a5b7c9d0e"}, false},
	"data-dir":                   {[]string{"-data-dir", "DATADIR"}, false},
	"bind":                       {[]string{"-bind", "10.1.2.3"}, false},
	"advertise":                  {[]string{"-advertise", "10.1.2.4"}, false},
	"advertise-wan":              {[]string{"-advertise-wan", "10.1.2.5"}, false},
	"client":                     {[]string{"-client", "127.0.0.2"}, false},
	"http-port":                  {[]string{"-http-port", "18500"}, false},
	"dns-port":                   {[]string{"-dns-port", "18600"}, false},
	"server-port":                {[]string{"-server-port", "18300"}, false},
	"serf-lan-port":              {[]string{"-serf-lan-port", "18301"}, false},
	"serf-wan-port":              {[]string{"-serf-wan-port", "18302"}, false},
	"join":                       {[]string{"-join", "10.0.0.1"}, false},
	"retry-join":                 {[]string{"-retry-join", "10.0.0.1"}, false},
	"join-wan":                   {[]string{"-join-wan", "10.0.0.1", "-join-wan", "10.0.0.2"}, false},
	"retry-join-wan":             {[]string{"-retry-join-wan", "10.0.0.1"}, false},
	"retry-interval-wan":         {[]string{"-retry-interval-wan", "10s"}, false},
	"retry-interval":             {[]string{"-retry-interval", "10s"}, false},
	"retry-max":                  {[]string{"-retry-max", "3"}, false},
	"config-file":                {[]string{"-config-file", "DATADIR/empty.json"}, false},
	"config-dir":                 {[]string{"-config-dir", "DATADIR"}, false},
	"hcl":                        {[]string{"-hcl", `log_level = "warn"`}, false},
	"log-level":                  {[]string{"-log-level", "warn"}, false},
	"log-json":                   {[]string{"-log-json"}, false},
	"syslog":                     {[]string{"-syslog"}, false},
	"ui":                         {[]string{"-ui"}, false},
	"ui-dir":                     {[]string{"-ui-dir", "DATADIR"}, false},
	"enable-debug":               {[]string{"-enable-debug"}, false},
	"enable-script-checks":       {[]string{"-enable-script-checks"}, false},
	"enable-local-script-checks": {[]string{"-enable-local-script-checks"}, false},
	"node-meta":                  {[]string{"-node-meta", "rack:r1"}, false},
	"domain":                     {[]string{"-domain", "meridian"}, false},
	"alt-domain":                 {[]string{"-alt-domain", "meridian"}, false},
	"recursor":                   {[]string{"-recursor", "8.8.8.8", "-recursor", "1.1.1.1"}, false},
	"default-query-time":         {[]string{"-default-query-time", "1m"}, false},
	"max-query-time":             {[]string{"-max-query-time", "2m"}, false},
	"raft-protocol":              {[]string{"-raft-protocol", "3"}, false},
	"pid-file":                   {[]string{"-pid-file", "/run/meridian.pid"}, false},
	"log-file":                   {[]string{"-log-file", "/var/log/meridian/"}, false},
	"log-rotate-bytes":           {[]string{"-log-rotate-bytes", "1048576"}, false},
	"log-rotate-duration":        {[]string{"-log-rotate-duration", "12h"}, false},
	"log-rotate-max-files":       {[]string{"-log-rotate-max-files", "5"}, false},
	"encrypt":                    {[]string{"-encrypt", testKey}, false},
	"https-port":                 {[]string{"-https-port", "18501", "-hcl", `tls { defaults { cert_file = "DATADIR/cert.pem" key_file = "DATADIR/key.pem" } }`}, false},
	"secure":                     {[]string{"-secure"}, false},
}

// TestFlagsNotActedOnWarnOnce gives each agent flag on its own (the
// repeatable ones twice): a flag Meridian does not act on gives exactly
// one warning naming it; any other flag none.
func TestFlagsNotActedOnWarnOnce(t *testing.T) {
	FlagSet(io.Discard).VisitAll(func(f *flag.Flag) {
		tc, ok := flagCases[f.Name]
		if !ok {
			t.Errorf("flag -%s is not in flagCases: say whether Meridian acts on it", f.Name)
			return
		}
		if tc.ignored != (ignoredFlags[f.Name] != "") {
			t.Errorf("flag -%s: ignored = %v in the test, %v in ignoredFlags", f.Name, tc.ignored, !tc.ignored)
		}
		t.Run(f.Name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "empty.json", "{}")
			writeTestPKI(t, dir)
			args := []string{"-data-dir", dir}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "DATADIR", dir))
			}
			_, warnings := mustLoad(t, args...)
			if !tc.ignored {
				if len(warnings) != 0 {
					t.Fatalf("a flag Meridian acts on gave warnings %q", warnings)
				}
				return
			}
			want := "flag -" + f.Name + " is accepted but not acted on: "
			if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
				t.Fatalf("warnings = %q, want one starting %q", warnings, want)
			}
		})
	})
}

// TestHelpPromisesOnlyWhatExists: a flag's help says it is ignored
// exactly when Meridian does not act on it.
func TestHelpPromisesOnlyWhatExists(t *testing.T) {
	FlagSet(io.Discard).VisitAll(func(f *flag.Flag) {
		claims := strings.Contains(f.Usage, "Ignored with a warning")
		says := strings.Contains(f.Usage, "Ignored with a warning: "+ignoredFlags[f.Name])
		switch {
		case ignoredFlags[f.Name] != "" && !says:
			t.Errorf("-%s is not acted on, but its help does not say so: %q", f.Name, f.Usage)
		case ignoredFlags[f.Name] == "" && claims:
			t.Errorf("-%s is acted on, but its help says it is ignored: %q", f.Name, f.Usage)
		}
	})
}

// TestUnopenedPortsDoNotCollide: a client opens no WAN port, so another
// listener may use its default number; every agent opens the DNS port.
func TestUnopenedPortsDoNotCollide(t *testing.T) {
	c, _ := mustLoad(t, "-data-dir", t.TempDir(), "-serf-lan-port", "8302")
	if c.Ports.SerfLAN != 8302 {
		t.Fatalf("ports = %+v", c.Ports)
	}
	_, _, err := fakeHost().load([]string{"-data-dir", t.TempDir(), "-http-port", "8600"})
	if err == nil || !strings.Contains(err.Error(), "ports.http and ports.dns both use port 8600") {
		t.Fatalf("HTTP on the DNS port: %v", err)
	}
}

// TestReloadNamesEveryField: each field of Config is applied by a reload,
// named in a warning when a reload changes it, or never acted on (and
// then warned about when loaded).
func TestReloadNamesEveryField(t *testing.T) {
	classified := map[string]int{}
	for _, f := range reloadApplied {
		classified[f]++
	}
	for _, f := range notActedOnFields {
		classified[f]++
	}
	for _, f := range restartOnly {
		classified[f.field]++
	}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if n := classified[f.Name]; n != 1 {
			t.Errorf("Config.%s is classified %d times for reload, want once", f.Name, n)
		}
		delete(classified, f.Name)
	}
	for name := range classified {
		t.Errorf("reload lists %s, which Config does not have", name)
	}
}

// TestReloadWarnsOnlyOfWhatARestartApplies: a reload that changes a key
// Meridian never acts on does not promise it for after a restart.
func TestReloadWarnsOnlyOfWhatARestartApplies(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "a.hcl", `limits { rpc_rate = 1 }`)
	prev, _, err := Load([]string{"-dev", "-config-file", file})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.hcl", "limits { rpc_rate = 2 }\nenable_debug = false\n")
	_, warnings, err := Reload(prev)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`config file "` + file + `": key "limits.rpc_rate" is a Consul option Meridian does not use yet; ignored`,
		"reload: enable_debug changed; it takes effect after a restart",
	}
	if !slices.Equal(warnings, want) {
		t.Fatalf("warnings = %q, want %q", warnings, want)
	}
}

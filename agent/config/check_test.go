package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedService is the service definition of the deployment recipe Meridian
// follows (Consul's), with "method":"Get" in lower case.
const seedService = `{"services":[{"id":"hello1","name":"hello","tags":["primary"],"address":"127.0.0.1","port":5000,
 "checks":[{"http":"http://localhost:5000/","tls_skip_verify":false,"method":"Get","interval":"10s","timeout":"1s"}]}]}`

func TestValidateGoodDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "hello.json", seedService)
	writeFile(t, dir, "ports.hcl", `ports { http = 18500 }
addresses { http = "127.0.0.1 127.0.0.2" }`)
	writeFile(t, dir, "notes.txt", "not a config file")
	warnings, errs := Validate([]string{dir})
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	// Nothing was created where the agent keeps state.
	if _, err := os.Stat(filepath.Join(dir, "node-id")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("validate wrote node-id: %v", err)
	}
	// The seed's check method is upper-cased as Consul does.
	c, _ := mustLoad(t, "-data-dir", t.TempDir(), "-config-dir", dir)
	if got := c.Services[0].Checks[0].Method; got != "GET" {
		t.Errorf("method = %q, want GET", got)
	}
}

func TestValidateReportsEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.json", `{"servics": []}`)
	b := writeFile(t, dir, "b.json", `{"ports": {"http": "many"}}`)
	c := writeFile(t, dir, "c.hcl", `datacenter = "dc1`)
	writeFile(t, dir, "d.json", seedService)
	_, errs := Validate([]string{dir})
	if len(errs) != 3 {
		t.Fatalf("errors = %v, want one for each of 3 bad files", errs)
	}
	for i, want := range []struct{ file, key string }{{a, "servics"}, {b, "ports.http"}, {c, ""}} {
		msg := errs[i].Error()
		if !strings.Contains(msg, want.file) || !strings.Contains(msg, want.key) || strings.Contains(msg, "\n") {
			t.Errorf("error %d = %q, want one line naming %s and %q", i, msg, want.file, want.key)
		}
	}
}

func TestValidateMergedErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"bad port pair", `{"ports": {"http": 8600}}`, "ports.http and ports.dns both use port 8600"},
		{"bind list", `{"bind_addr": "127.0.0.1 127.0.0.2"}`, "bind_addr: multiple addresses found"},
		{"bad template", `{"client_addr": "{{ GetNothing }}"}`, "client_addr"},
		{"bad facility", `{"enable_syslog": true, "syslog_facility": "LOCAL9"}`, `syslog_facility "LOCAL9"`},
		{"bootstrap on client", `{"bootstrap": true}`, "'bootstrap = true' requires 'server = true'"},
		{"negative rotate bytes", `{"log_file": "/tmp/x.log", "log_rotate_bytes": -1}`, "log_rotate_bytes cannot be negative"},
		{"negative rotate duration", `{"log_rotate_duration": "-1s"}`, "log_rotate_duration cannot be negative"},
		{"rotate max files below -1", `{"log_rotate_max_files": -2}`, "log_rotate_max_files must be -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "x.json", tc.content)
			_, errs := Validate([]string{dir})
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) || !errors.Is(errs[0], ErrInvalid) {
				t.Fatalf("errors = %v, want one containing %q", errs, tc.want)
			}
		})
	}
	if _, errs := Validate(nil); len(errs) != 1 {
		t.Errorf("no paths: errors = %v", errs)
	}
	if _, errs := Validate([]string{filepath.Join(t.TempDir(), "missing")}); len(errs) != 1 {
		t.Errorf("missing path: errors = %v", errs)
	}
}

func TestLogFileSettings(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "a.json", `{"log_file": "/var/log/m/", "log_rotate_bytes": 1000, "log_rotate_duration": "1h", "log_rotate_max_files": 3}`)
	c, _ := mustLoad(t, "-data-dir", dir, "-config-file", f, "-log-rotate-max-files", "-1")
	if c.LogFile != "/var/log/m/" || c.LogRotateBytes != 1000 || c.LogRotateDuration != time.Hour || c.LogRotateMaxFiles != -1 {
		t.Errorf("log file %q bytes %d duration %s max files %d", c.LogFile, c.LogRotateBytes, c.LogRotateDuration, c.LogRotateMaxFiles)
	}
	d, _ := mustLoad(t, "-data-dir", dir)
	if d.LogFile != "" || d.LogRotateDuration != 24*time.Hour || d.LogRotateBytes != 0 || d.LogRotateMaxFiles != 0 {
		t.Errorf("defaults: %q %d %s %d", d.LogFile, d.LogRotateBytes, d.LogRotateDuration, d.LogRotateMaxFiles)
	}
}

func TestAddressesBlock(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "a.json", `{"client_addr": "127.0.0.1 127.0.0.2", "addresses": {"dns": "{{ \"127.0.0.3\" }}"}}`)
	c, _ := mustLoad(t, "-data-dir", dir, "-config-file", f)
	if c.ClientAddr != "127.0.0.1" || strings.Join(c.HTTPAddrs, " ") != "127.0.0.1 127.0.0.2" || strings.Join(c.DNSAddrs, " ") != "127.0.0.3" {
		t.Errorf("client %q http %q dns %q", c.ClientAddr, c.HTTPAddrs, c.DNSAddrs)
	}
	assertErr(t, loadErr(t, "-data-dir", dir, "-client", " "), ErrInvalid, `client_addr " " names no address`)
	assertErr(t, loadErr(t, "-data-dir", dir, "-bind", "127.0.0.1 127.0.0.2"), ErrInvalid,
		"bind_addr: multiple addresses found (127.0.0.1, 127.0.0.2); please configure only one")
}

// TestCheckKindsOfTheAPI: a config file's checks take the kinds and options
// the HTTP API takes (udp, tcp_use_tls, disable_redirects, h2ping,
// h2ping_use_tls, alias_service), without a warning.
func TestCheckKindsOfTheAPI(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "checks.json", `{"checks":[
  {"name":"dns","udp":"127.0.0.1:53","interval":"10s"},
  {"name":"tls","tcp":"127.0.0.1:443","tcp_use_tls":true,"interval":"10s"},
  {"name":"web","http":"http://127.0.0.1/","disable_redirects":true,"interval":"10s"},
  {"name":"h2","h2ping":"127.0.0.1:8443","interval":"10s"},
  {"name":"h2c","h2ping":"127.0.0.1:8080","h2ping_use_tls":false,"interval":"10s"},
  {"name":"db up","alias_service":"db"}]}`)
	c, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-config-dir", dir)
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if len(c.Checks) != 6 || c.Checks[0].UDP != "127.0.0.1:53" || !c.Checks[1].TCPUseTLS || !c.Checks[2].DisableRedirects ||
		c.Checks[3].H2PING != "127.0.0.1:8443" || c.Checks[3].H2PingUseTLS != nil ||
		c.Checks[4].H2PingUseTLS == nil || *c.Checks[4].H2PingUseTLS || c.Checks[5].AliasService != "db" {
		t.Fatalf("checks: %+v", c.Checks)
	}
	writeFile(t, dir, "checks.json", `{"check":{"name":"two","udp":"127.0.0.1:53","tcp":"127.0.0.1:1","interval":"1s"}}`)
	if _, errs := Validate([]string{dir}); len(errs) != 1 || !strings.Contains(errs[0].Error(), "got tcp, udp") {
		t.Errorf("udp and tcp in one check: %v", errs)
	}
}

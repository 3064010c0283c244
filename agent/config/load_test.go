package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestDevProfile(t *testing.T) {
	c, warnings := mustLoad(t, "-dev")
	if !c.Dev || !c.Server || !c.Bootstrap || c.DataDir != "" || !c.UI || !c.EnableDebug || c.LogLevel != "debug" ||
		c.BindAddr != "127.0.0.1" || c.ClientAddr != "127.0.0.1" ||
		c.AdvertiseAddr != "127.0.0.1" || c.AdvertiseAddrWAN != "127.0.0.1" {
		t.Errorf("dev config = %+v", c)
	}
	if !isUUID(c.NodeID) {
		t.Errorf("dev NodeID = %q, want a random UUID", c.NodeID)
	}
	if len(warnings) != 0 {
		t.Errorf("dev warnings = %q, want none", warnings)
	}
	other, _ := mustLoad(t, "-dev")
	if other.NodeID == c.NodeID {
		t.Errorf("two dev loads share node ID %s", c.NodeID)
	}

	// Explicit flags and files override the profile.
	file := writeFile(t, t.TempDir(), "dev.json", `{"enable_debug": false}`)
	c, _ = mustLoad(t, "-dev", "-log-level", "warn", "-client", "0.0.0.0", "-bind", "10.0.0.9", "-config-file", file)
	if c.LogLevel != "warn" || c.ClientAddr != "0.0.0.0" || c.BindAddr != "10.0.0.9" || c.AdvertiseAddr != "10.0.0.9" || c.EnableDebug {
		t.Errorf("overridden dev config = %+v", c)
	}
}

func TestDevWritesNothing(t *testing.T) {
	dir := t.TempDir()
	c, _ := mustLoad(t, "-dev", "-data-dir", dir)
	if c.DataDir != dir || !isUUID(c.NodeID) {
		t.Errorf("DataDir = %q, NodeID = %q", c.DataDir, c.NodeID)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("dev mode wrote %v to the data dir (err %v)", entries, err)
	}
}

func TestNodeIDPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested") // created by Load
	first, _ := mustLoad(t, "-data-dir", dir)
	second, _ := mustLoad(t, "-data-dir", dir, "-server")
	if !isUUID(first.NodeID) || first.NodeID != second.NodeID {
		t.Fatalf("node IDs %q and %q, want one UUID kept across loads", first.NodeID, second.NodeID)
	}
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	if err != nil || string(b) != first.NodeID {
		t.Errorf("node-id file = %q (err %v), want %q", b, err, first.NodeID)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node-id file mode = %v (err %v), want 0600", fi.Mode(), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "node-id.tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}

	// An explicit ID wins and is not written; the stored one is untouched.
	const explicit = "11111111-2222-4333-8444-555555555555"
	c, _ := mustLoad(t, "-data-dir", dir, "-node-id", explicit)
	if c.NodeID != explicit {
		t.Errorf("NodeID = %q, want the explicit %q", c.NodeID, explicit)
	}
	if b, _ := os.ReadFile(path); string(b) != first.NodeID {
		t.Errorf("node-id file changed to %q", b)
	}
}

func TestNodeIDConcurrentLoads(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 4)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			c, _, err := fakeHost().load([]string{"-data-dir", dir})
			if err == nil {
				ids[i] = c.NodeID
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("load %d: node ID %q, error %v; want %q", i, ids[i], errs[i], ids[0])
		}
	}
}

func TestNodeIDFileRead(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "node-id", " 0B1D0C2E-6F4A-4B8C-9D2E-1F3A5B7C9D0E\n")
	c, _ := mustLoad(t, "-data-dir", dir)
	if c.NodeID != "0b1d0c2e-6f4a-4b8c-9d2e-1f3a5b7c9d0e" {
		t.Errorf("NodeID = %q, want the stored one lowercased", c.NodeID)
	}

	bad := writeFile(t, t.TempDir(), "node-id", "garbage")
	err := loadErr(t, "-data-dir", filepath.Dir(bad))
	assertErr(t, err, ErrInvalid, `node ID file "`+bad+`" does not hold a valid UUID`)
}

func TestAdvertiseDetection(t *testing.T) {
	tests := []struct {
		name    string
		addrs   []string
		bind    string
		want    string
		wantErr string
	}{
		{"single private IPv4", []string{"127.0.0.1/8", "192.168.3.4/24", "203.0.113.5/24", "fe80::1/64"}, "0.0.0.0", "192.168.3.4", ""},
		{"shared address space counts as private", []string{"100.64.1.2/10"}, "0.0.0.0", "100.64.1.2", ""},
		{"duplicates collapse", []string{"10.0.0.1/8", "10.0.0.1/8"}, "0.0.0.0", "10.0.0.1", ""},
		{"several private IPv4", []string{"10.0.0.1/8", "172.16.0.1/12"}, "0.0.0.0", "",
			"multiple private IPv4 addresses found (10.0.0.1, 172.16.0.1); please configure one with 'bind' and/or 'advertise'"},
		{"no private IPv4", []string{"127.0.0.1/8", "203.0.113.5/24"}, "0.0.0.0", "", "no private IPv4 address found"},
		{"single public IPv6", []string{"fd00::1/64", "fe80::1/64", "2001:db8::5/64"}, "::", "2001:db8::5", ""},
		{"no public IPv6", []string{"fd00::1/64", "10.0.0.1/8"}, "[::]", "", "no public IPv6 address found"},
		{"concrete bind needs no detection", nil, "10.20.30.40", "10.20.30.40", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := fakeHost(tc.addrs...)
			if tc.addrs == nil {
				l.interfaceAddrs = nil // must not be called
			}
			c, _, err := l.load([]string{"-data-dir", t.TempDir(), "-bind", tc.bind})
			if tc.wantErr != "" {
				assertErr(t, err, ErrInvalid, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AdvertiseAddr != tc.want || c.AdvertiseAddrWAN != tc.want {
				t.Errorf("advertise = %q / %q, want %q", c.AdvertiseAddr, c.AdvertiseAddrWAN, tc.want)
			}
		})
	}

	t.Run("interface listing fails", func(t *testing.T) {
		l := fakeHost()
		l.interfaceAddrs = func() ([]net.Addr, error) { return nil, errors.New("boom") }
		_, _, err := l.load([]string{"-data-dir", t.TempDir()})
		assertErr(t, err, ErrInvalid, "error detecting private IPv4 address: boom")
	})
	t.Run("host name unavailable", func(t *testing.T) {
		l := fakeHost()
		l.hostname = func() (string, error) { return "", errors.New("no uts") }
		_, _, err := l.load([]string{"-data-dir", t.TempDir()})
		assertErr(t, err, ErrInvalid, "node_name cannot be empty: cannot read the host name: no uts")
	})
}

func TestReload(t *testing.T) {
	root := t.TempDir()
	confDir := filepath.Join(root, "conf.d")
	writeFile(t, confDir, "a.json", `{"log_level": "info", "retry_join": ["a"]}`)
	prev, _, err := Load([]string{"-dev", "-config-dir", confDir, "-bind", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}

	writeFile(t, confDir, "b.hcl", `log_level = "warn"
ports { http = 18500 }`)
	next, warnings, err := Reload(prev)
	if err != nil {
		t.Fatal(err)
	}
	if next.LogLevel != "warn" || !slices.Equal(next.RetryJoin, []string{"a"}) || len(next.ConfigFiles) != 2 {
		t.Errorf("reloaded config: log level %q, retry_join %q, files %q", next.LogLevel, next.RetryJoin, next.ConfigFiles)
	}
	if next.NodeID != prev.NodeID {
		t.Errorf("dev node ID changed on reload: %s -> %s", prev.NodeID, next.NodeID)
	}
	if want := []string{"reload: ports changed; it takes effect after a restart",
		"reload: log_level changed; it takes effect after a restart"}; !slices.Equal(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
	// Reload keeps working from a reloaded config and from a clone.
	if _, _, err := Reload(next.Clone()); err != nil {
		t.Errorf("Reload(clone): %v", err)
	}

	writeFile(t, confDir, "c.json", `{"bogus": 1}`)
	if _, _, err := Reload(prev); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Reload with a bad file: %v, want ErrUnknownKey", err)
	}
	for _, c := range []*Config{nil, DefaultConfig()} {
		if _, _, err := Reload(c); !errors.Is(err, ErrNotLoaded) {
			t.Errorf("Reload(%v) = %v, want ErrNotLoaded", c, err)
		}
	}
}

func TestLoadUsesHost(t *testing.T) {
	// The real Load: dev mode needs neither interface detection nor disk.
	c, _, err := Load([]string{"-dev"})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if c.NodeName != strings.TrimSpace(host) {
		t.Errorf("NodeName = %q, want host name %q", c.NodeName, host)
	}
}

func TestClone(t *testing.T) {
	path, _ := copyTestdata(t, "full.json")
	orig, _ := mustLoad(t, "-config-file", path)
	keep, _ := mustLoad(t, "-config-file", path)
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("clone differs from the original")
	}
	c.RetryJoin[0] = "x"
	c.StartJoin[0] = "x"
	c.RetryJoinWAN[0] = "x"
	c.StartJoinWAN[0] = "x"
	c.Recursors[0] = "x"
	c.ConfigFiles[0] = "x"
	c.args[0] = "x"
	c.NodeMeta["rack"] = "x"
	c.Services[0].Tags[0] = "x"
	c.Services[1].Meta["version"] = "x"
	c.Services[1].Weights.Passing = 99
	c.Services[1].Checks[0].TCP = "x"
	c.Services[1].Checks[1].Args[0] = "x"
	c.Checks[0].Header["X-Token"][0] = "x"
	c.Watches[0]["key"] = "x"
	c.Watches[0]["args"].([]any)[0] = "x"
	if !reflect.DeepEqual(orig, keep) {
		t.Errorf("mutating the clone changed the original")
	}
	if (*Config)(nil).Clone() != nil {
		t.Errorf("nil.Clone() != nil")
	}
}

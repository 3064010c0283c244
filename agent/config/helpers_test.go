package config

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeHost is a loader whose host has one private IPv4 (10.1.2.3) and the
// name "testhost", so results do not depend on the machine.
func fakeHost(addrs ...string) *loader {
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1/8", "10.1.2.3/8"}
	}
	return &loader{
		help:     io.Discard,
		hostname: func() (string, error) { return "testhost", nil },
		interfaceAddrs: func() ([]net.Addr, error) {
			var out []net.Addr
			for _, a := range addrs {
				ip, n, err := net.ParseCIDR(a)
				if err != nil {
					panic(err)
				}
				out = append(out, &net.IPNet{IP: ip, Mask: n.Mask})
			}
			return out, nil
		},
	}
}

// mustLoad loads args on the fake host and fails the test on error.
func mustLoad(t *testing.T, args ...string) (*Config, []string) {
	t.Helper()
	c, warnings, err := fakeHost().load(args)
	if err != nil {
		t.Fatalf("load %q: %v", args, err)
	}
	return c, warnings
}

// loadErr loads args on the fake host and returns the error it must give.
func loadErr(t *testing.T, args ...string) error {
	t.Helper()
	c, _, err := fakeHost().load(args)
	if err == nil {
		t.Fatalf("load %q: want an error, got config %+v", args, c)
	}
	if c != nil {
		t.Errorf("load %q: got a config along with error %v", args, err)
	}
	return err
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyTestdata copies testdata/name into a temp dir, replacing DATADIR
// with a fresh data dir, and returns the copy's path and the data dir.
func copyTestdata(t *testing.T, name string) (path, dataDir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	return writeFile(t, dir, name, strings.ReplaceAll(string(b), "DATADIR", dataDir)), dataDir
}

// sameConfig compares two configs, ignoring the arguments and files they
// were loaded from.
func sameConfig(t *testing.T, got, want *Config) {
	t.Helper()
	g, w := got.Clone(), want.Clone()
	g.args, w.args = nil, nil
	g.ConfigFiles, w.ConfigFiles = nil, nil
	g.loaded, w.loaded = false, false
	if !reflect.DeepEqual(g, w) {
		t.Errorf("config mismatch\n got: %+v\nwant: %+v", g, w)
	}
}

func assertErr(t *testing.T, err error, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %q, got nil", msg)
	}
	if err.Error() != msg {
		t.Errorf("error message\n got: %s\nwant: %s", err, msg)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not match %v", err, kind)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q spans several lines", err)
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadHCL is FuzzLoadJSON for HCL config files: Load must never panic
// (the HCL parser's own panics become errors), must return exactly one of
// a config or an error, errors must be one line of a known kind, and a
// loaded config must validate. Its seeds are the example files and
// testdata/fuzz/FuzzLoadHCL.
func FuzzLoadHCL(f *testing.F) {
	for _, name := range []string{"example.hcl", "example-blocks.hcl", "full.hcl"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "fuzz.hcl")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, _, err := fakeHost().load([]string{"-dev", "-config-file", path})
		if err != nil {
			if c != nil {
				t.Fatalf("config and error %v together", err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("error %q has no known kind", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q spans several lines", err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
		if !isUUID(c.NodeID) || c.AdvertiseAddr == "" || c.NodeName == "" {
			t.Fatalf("loaded config lacks resolved values: %+v", c)
		}
		if err := validate(c); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		_ = c.Clone()
	})
}

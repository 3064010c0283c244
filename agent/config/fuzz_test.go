package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadJSON feeds arbitrary content to Load as a JSON config file (see
// fuzzLoad). Its seeds are the example files and testdata/fuzz/FuzzLoadJSON.
func FuzzLoadJSON(f *testing.F) {
	fuzzLoad(f, "fuzz.json", "example.json", "full.json")
}

// FuzzLoadHCL is FuzzLoadJSON for HCL config files: the HCL parser's own
// panics must become errors too.
func FuzzLoadHCL(f *testing.F) {
	fuzzLoad(f, "fuzz.hcl", "example.hcl", "example-blocks.hcl", "full.hcl")
}

// fuzzLoad feeds arbitrary content to Load as the config file name (its
// extension picks the format), seeded with the testdata files seeds. Load
// must never panic, must return exactly one of a config or an error,
// errors must be one line of a known kind, and a loaded config must be
// resolved and valid. -dev keeps Load off the disk whatever data_dir the
// input names.
func fuzzLoad(f *testing.F, name string, seeds ...string) {
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join("testdata", s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// The target is not run in parallel within a process, so one file is
	// rewritten for each input (cheaper than a directory per input).
	path := filepath.Join(f.TempDir(), name)
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

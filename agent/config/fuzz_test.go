package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadJSON feeds arbitrary content to Load as a JSON config file. Load
// must never panic, must return exactly one of a config or an error, and
// errors must be one line of a known kind. -dev keeps Load off the disk
// whatever data_dir the input names.
func FuzzLoadJSON(f *testing.F) {
	for _, name := range []string{"example.json", "full.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// The target is not run in parallel within a process, so one file is
	// rewritten for each input (cheaper than a directory per input).
	path := filepath.Join(f.TempDir(), "fuzz.json")
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

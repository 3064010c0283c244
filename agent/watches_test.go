package agent_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// A watch from the agent's config file runs its script handler with the
// new value on every change.
func TestConfigWatchRunsHandler(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "seen.json")
	cfg := map[string]any{"watches": []map[string]any{{
		"type": "key", "key": "app/config",
		"args": []string{"sh", "-c", "cat > " + out + ".tmp && mv " + out + ".tmp " + out},
	}}}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "watches.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-config-dir", dir}})
	cl := client(t, c.Nodes[0])
	for _, v := range []string{"one", "two"} {
		if _, err := cl.KV().Put(&api.KVPair{Key: "app/config", Value: []byte(v)}, nil); err != nil {
			t.Fatal(err)
		}
		testcluster.WaitFor(t, 15*time.Second, func() error {
			b, err := os.ReadFile(out)
			if err != nil {
				return err
			}
			var pair api.KVPair
			if err := json.Unmarshal(b, &pair); err != nil {
				return fmt.Errorf("handler input %q: %v", strings.TrimSpace(string(b)), err)
			}
			if string(pair.Value) != v {
				return fmt.Errorf("handler saw %q, want %q", pair.Value, v)
			}
			return nil
		})
	}
}

// A reload replaces the watches: the new definition runs and the old one
// is stopped before Reload returns.
func TestReloadRestartsWatches(t *testing.T) {
	dir := t.TempDir()
	outs := []string{filepath.Join(t.TempDir(), "old.json"), filepath.Join(t.TempDir(), "new.json")}
	writeWatch := func(out string) {
		t.Helper()
		cfg := map[string]any{"watches": []map[string]any{{
			"type": "key", "key": "app/config",
			"args": []string{"sh", "-c", "cat > " + out + ".tmp && mv " + out + ".tmp " + out},
		}}}
		data, _ := json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(dir, "watches.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := func(out, want string) func() error {
		return func() error {
			b, err := os.ReadFile(out)
			if err != nil {
				return err
			}
			var pair api.KVPair
			if err := json.Unmarshal(b, &pair); err != nil {
				return fmt.Errorf("handler input %q: %v", strings.TrimSpace(string(b)), err)
			}
			if string(pair.Value) != want {
				return fmt.Errorf("%s saw %q, want %q", filepath.Base(out), pair.Value, want)
			}
			return nil
		}
	}
	writeWatch(outs[0])
	c := testcluster.New(t, testcluster.Options{Servers: 1, Args: []string{"-config-dir", dir}})
	cl := client(t, c.Nodes[0])
	if _, err := cl.KV().Put(&api.KVPair{Key: "app/config", Value: []byte("one")}, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 15*time.Second, seen(outs[0], "one"))

	writeWatch(outs[1])
	if err := cl.Agent().Reload(); err != nil {
		t.Fatal(err)
	}
	// Each change goes through the new watch; by the last one an old
	// watch left running would have handled the earlier ones too.
	for _, v := range []string{"two", "three", "four"} {
		if _, err := cl.KV().Put(&api.KVPair{Key: "app/config", Value: []byte(v)}, nil); err != nil {
			t.Fatal(err)
		}
		testcluster.WaitFor(t, 15*time.Second, seen(outs[1], v))
	}
	if err := seen(outs[0], "one")(); err != nil {
		t.Errorf("the watch of the old configuration still ran: %v", err)
	}
}

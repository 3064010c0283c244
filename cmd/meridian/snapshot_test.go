package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestSnapshotCommands saves, inspects and restores a snapshot through
// the leader of a three-server datacenter, then through a follower and a
// client agent (which hand it on), and checks that a damaged file is
// refused by each with the state unchanged.
func TestSnapshotCommands(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 3, Clients: 1})
	leader := c.WaitForLeader(30 * time.Second)
	env := map[string]string{"MERIDIAN_HTTP_ADDR": leader.HTTPAddr}
	kv := kvClient(t, leader.HTTPAddr)
	for i := range 50 {
		put(t, kv, fmt.Sprintf("before/%02d", i), "v")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")

	res := runCLI(t, nil, env, "", "snapshot", "save", file)
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "Saved and verified snapshot to index ") {
		t.Fatalf("save: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	res = runCLI(t, nil, env, "", "snapshot", "inspect", file)
	if res.code != exitOK || !strings.Contains(res.stdout, "Index") || !strings.Contains(res.stdout, "Servers 3") {
		t.Fatalf("inspect: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	put(t, kv, "later", "x")

	// A damaged file: refused by inspect and by the leader; nothing changes.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.snap")
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(bad, data, 0o600); err != nil {
		t.Fatal(err)
	}
	assertOneLineError(t, runCLI(t, nil, env, "", "snapshot", "inspect", bad), exitError, "invalid snapshot archive")
	follower, client := c.Followers()[0], c.Clients()[0]
	for _, n := range []*testcluster.Node{leader, follower, client} {
		assertOneLineError(t, runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": n.HTTPAddr}, "", "snapshot", "restore", bad),
			exitError, "snapshot refused, nothing restored")
	}
	if get(t, kv, "later") != "x" {
		t.Fatal("a refused restore changed the state")
	}

	// A client agent saves through a server: the same state.
	viaClient := filepath.Join(dir, "client.snap")
	res = runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": client.HTTPAddr}, "", "snapshot", "save", viaClient)
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "Saved and verified snapshot to index ") {
		t.Fatalf("save through a client agent: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	// Restores through the leader, a follower and a client agent: each
	// replaces the state on every server.
	for _, step := range []struct {
		via  *testcluster.Node
		file string
		gone string // written after the snapshot was taken
	}{{leader, file, "later"}, {follower, file, "later2"}, {client, viaClient, "later3"}} {
		put(t, kv, step.gone, "x")
		res = runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": step.via.HTTPAddr}, "", "snapshot", "restore", step.file)
		if res.code != exitOK || res.stdout != "Restored snapshot\n" {
			t.Fatalf("restore through %s: code %d, stdout %q, stderr %q", step.via.Name, res.code, res.stdout, res.stderr)
		}
		for _, n := range c.Servers() {
			kvn := kvClient(t, n.HTTPAddr)
			testcluster.WaitFor(t, 30*time.Second, func() error {
				pair, _, err := kvn.Get(step.gone, &consulapi.QueryOptions{AllowStale: true})
				if err != nil || pair != nil {
					return fmt.Errorf("after the restore through %s: %s = %v, err %v", step.via.Name, step.gone, pair, err)
				}
				if pair, _, err := kvn.Get("before/49", &consulapi.QueryOptions{AllowStale: true}); err != nil || pair == nil {
					return fmt.Errorf("before/49 = %v, err %v", pair, err)
				}
				return nil
			})
		}
	}
}

func kvClient(t *testing.T, addr string) *consulapi.KV {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = addr
	cl, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl.KV()
}

func put(t *testing.T, kv *consulapi.KV, key, value string) {
	t.Helper()
	if _, err := kv.Put(&consulapi.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, kv *consulapi.KV, key string) string {
	t.Helper()
	pair, _, err := kv.Get(key, nil)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if pair == nil {
		return ""
	}
	return string(pair.Value)
}

package dc

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// Servers as agents run them: Raft's log and snapshots under DataDir, its
// transport built by dc on the mux's stream layer. A server restarted on
// its data dir keeps what it had (no second bootstrap), catches up on what
// it missed, from a snapshot when the log has been compacted past it.
func TestRestartOnDiskCatchesUpFromASnapshot(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newDiskCluster(t, 3, func(cfg *Config) {
			cfg.SnapshotThreshold, cfg.TrailingLogs = 20, 5
		})
		leader := c.waitLeader()
		if err := call(leader, MethodKVApply, kvSet("before", "1"), &pb.KVApplyResponse{}); err != nil {
			t.Fatal(err)
		}
		down := c.followers(leader)[0]
		waitFor(t, down.name+" has the first write", func() error {
			if got := kvValue(t, down, "before", pb.Consistency_CONSISTENCY_STALE); got != "1" {
				return fmt.Errorf("reads %q", got)
			}
			return nil
		})
		c.stop(down)
		for i := range 100 {
			if err := call(leader, MethodKVApply, kvSet(fmt.Sprintf("while-down/%03d", i), "x"), &pb.KVApplyResponse{}); err != nil {
				t.Fatal(err)
			}
		}
		// Snapshot on the leader so the log no longer holds what the
		// stopped server missed.
		if err := leader.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		c.restart(down)
		waitFor(t, down.name+" caught up", func() error {
			var resp pb.KVGetResponse
			err := call(down, MethodKVGet, &pb.KVGetRequest{Key: "while-down/", Recurse: true, Query: &pb.QueryOptions{Consistency: pb.Consistency_CONSISTENCY_STALE}}, &resp)
			if err != nil || len(resp.Entries) != 100 {
				return fmt.Errorf("%d of 100 keys (%v)", len(resp.Entries), err)
			}
			return nil
		})
		if got := kvValue(t, down, "before", pb.Consistency_CONSISTENCY_DEFAULT); got != "1" {
			t.Fatalf("after restart reads %q", got)
		}
		if s := down.Stats(); s["last_snapshot_index"] == "0" {
			t.Errorf("the restarted server installed no snapshot: %v", s)
		}
		// The whole cluster restarts from disk and elects a leader
		// without bootstrapping again.
		for _, ts := range c.servers {
			c.stop(ts)
		}
		for _, ts := range c.servers {
			c.restart(ts)
		}
		leader = c.waitLeader()
		if got := kvValue(t, leader, "while-down/099", pb.Consistency_CONSISTENCY_DEFAULT); got != "x" {
			t.Fatalf("after a full restart reads %q", got)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	good := DevProfile()
	good.NodeName, good.NodeID, good.RPCAddr = "n", "id", "10.0.0.1:8300"
	deps := Deps{Transport: nil, RaftStream: nil, Pool: &countingCaller{}, Membership: newFakeMembership()}
	for name, tc := range map[string]struct {
		mutate func(*Config, *Deps)
		want   string
	}{
		"no name":         {func(c *Config, _ *Deps) { c.NodeName = "" }, "node name"},
		"no id":           {func(c *Config, _ *Deps) { c.NodeID = "" }, "node id"},
		"no dc":           {func(c *Config, _ *Deps) { c.Datacenter = "" }, "datacenter"},
		"no rpc addr":     {func(c *Config, _ *Deps) { c.RPCAddr = "" }, "rpc address"},
		"both bootstraps": {func(c *Config, _ *Deps) { c.BootstrapExpect = 3 }, "mutually exclusive"},
		"negative expect": {func(c *Config, _ *Deps) { c.Bootstrap, c.BootstrapExpect = false, -1 }, "negative"},
		"no logger":       {func(c *Config, _ *Deps) { c.Logger = nil }, "logger"},
		"bad log store":   {func(c *Config, _ *Deps) { c.LogStoreBackend = "leveldb" }, `"leveldb" is neither "wal" nor "boltdb"`},
		"no transport":    {func(*Config, *Deps) {}, "raft stream or transport"},
		"no pool":         {func(_ *Config, d *Deps) { d.RaftStream, d.Pool = memStream{}, nil }, "pool"},
	} {
		cfg, d := good, deps
		tc.mutate(&cfg, &d)
		if _, err := New(cfg, d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
	d := deps
	d.RaftStream = memStream{}
	s, err := New(good, d)
	if err != nil {
		t.Fatal(err)
	}
	// Shutdown before Start releases nothing it did not open.
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// memStream is a StreamLayer that is never used.
type memStream struct{ net.Listener }

func (memStream) Dial(string, time.Duration) (net.Conn, error) { return nil, errors.New("no network") }

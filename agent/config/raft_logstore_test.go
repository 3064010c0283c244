package config

import (
	"strings"
	"testing"
)

func TestRaftLogStoreBlock(t *testing.T) {
	dir := t.TempDir()
	c, warnings := mustLoad(t, "-server", "-data-dir", dir)
	if len(warnings) != 0 || c.RaftLogStore != (RaftLogStore{}) {
		t.Fatalf("default: %+v %q", c.RaftLogStore, warnings)
	}
	c, warnings = mustLoad(t, "-server", "-data-dir", dir, "-hcl", `raft_logstore { backend = "boltdb" wal { segment_size_mb = 16 } }`)
	if len(warnings) != 0 || c.RaftLogStore != (RaftLogStore{Backend: "boltdb", WALSegmentSizeMB: 16}) {
		t.Fatalf("raft_logstore = %+v %q", c.RaftLogStore, warnings)
	}
	// Consul's keys Meridian does not use load with a warning.
	file := writeFile(t, dir, "r.json", `{"raft_logstore": {"backend": "wal", "disable_log_cache": true, "verification": {"enabled": true}}}`)
	c, warnings = mustLoad(t, "-server", "-data-dir", dir, "-config-file", file)
	if c.RaftLogStore.Backend != "wal" || len(warnings) != 2 || !strings.Contains(warnings[0], "raft_logstore.disable_log_cache") {
		t.Fatalf("from JSON: %+v %q", c.RaftLogStore, warnings)
	}
	for _, tc := range []struct{ hcl, want string }{
		{`raft_logstore { backend = "leveldb" }`, `raft_logstore.backend "leveldb": want "wal" or "boltdb"`},
		{`raft_logstore { wal { segment_size_mb = 4096 } }`, "segment_size_mb 4096"},
		{`raft_logstore { wal { segment_size_mb = -1 } }`, "segment_size_mb -1"},
		{`raft_logstore { bogus = 1 }`, `"raft_logstore.bogus"`},
	} {
		err := loadErr(t, "-server", "-data-dir", dir, "-hcl", tc.hcl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.hcl, err, tc.want)
		}
	}
}

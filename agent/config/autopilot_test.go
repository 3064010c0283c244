package config

import (
	"strings"
	"testing"
	"time"
)

func TestAutopilotBlock(t *testing.T) {
	dir := t.TempDir()
	c, warnings := mustLoad(t, "-server", "-data-dir", dir)
	if c.Autopilot != DefaultAutopilot() || len(warnings) != 0 {
		t.Fatalf("default autopilot %+v, warnings %q", c.Autopilot, warnings)
	}
	hcl := `autopilot {
  cleanup_dead_servers = false
  last_contact_threshold = "500ms"
  max_trailing_logs = 1000
  min_quorum = 3
  server_stabilization_time = "30s"
}`
	c, warnings = mustLoad(t, "-server", "-data-dir", dir, "-hcl", hcl)
	want := Autopilot{LastContactThreshold: 500 * time.Millisecond, MaxTrailingLogs: 1000, MinQuorum: 3, ServerStabilizationTime: 30 * time.Second}
	if c.Autopilot != want || len(warnings) != 0 {
		t.Fatalf("autopilot %+v, warnings %q", c.Autopilot, warnings)
	}
	file := writeFile(t, dir, "a.json", `{"autopilot": {"min_quorum": 5}}`)
	c, _ = mustLoad(t, "-server", "-data-dir", dir, "-config-file", file)
	if c.Autopilot.MinQuorum != 5 || !c.Autopilot.CleanupDeadServers {
		t.Fatalf("from JSON: %+v", c.Autopilot)
	}
	for _, tc := range []struct{ hcl, want string }{
		{`autopilot { min_quorum = -1 }`, "min_quorum -1 is negative"},
		{`autopilot { last_contact_threshold = "-1s" }`, "last_contact_threshold -1s is negative"},
		{`autopilot { bogus = 1 }`, "bogus"},
	} {
		err := loadErr(t, "-server", "-data-dir", dir, "-hcl", tc.hcl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.hcl, err, tc.want)
		}
	}
}

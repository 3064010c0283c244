package config

import (
	"strings"
	"testing"
)

// TestRequestLimitsLoad: limits.request_limits loads from HCL, an unknown
// mode or a rate that is not a number is refused with its key named.
func TestRequestLimitsLoad(t *testing.T) {
	c, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-hcl",
		`limits { http_max_conns_per_client = 7
		 request_limits { mode = "permissive" read_rate = 250.5 write_rate = 40 } }
		 disable_kv_key_validation = true`)
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	want := RequestLimits{Mode: RateLimitPermissive, ReadRate: 250.5, WriteRate: 40}
	if c.Limits.RequestLimits != want || c.Limits.HTTPMaxConnsPerClient != 7 || !c.DisableKVKeyValidation {
		t.Fatalf("limits = %+v, disable_kv_key_validation = %v", c.Limits, c.DisableKVKeyValidation)
	}
	for hcl, msg := range map[string]string{
		`limits { request_limits { mode = "strict" } }`:    `invalid limits.request_limits.mode "strict"`,
		`limits { request_limits { read_rate = "fast" } }`: "read_rate",
		`limits { request_limits { write_rate = true } }`:  "write_rate",
		`limits { request_limits { burst = 3 } }`:          "burst",
		`limits { http_max_conns_per_client = 0 }`:         "limits.http_max_conns_per_client must be > 0",
	} {
		_, _, err := fakeHost().load([]string{"-data-dir", t.TempDir(), "-hcl", hcl})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err = %v, want one naming %q", hcl, err, msg)
		}
	}
}

package agent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/agent/config"
)

// TestDebugEndpoints: Go's profiles are served only with enable_debug.
func TestDebugEndpoints(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		cfg := config.DefaultConfig()
		cfg.NodeName, cfg.Datacenter, cfg.EnableDebug = "debug-node", "dc1", enabled
		a, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.cancel() })
		rec := httptest.NewRecorder()
		a.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil))
		want := http.StatusNotFound
		if enabled {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("enable_debug=%v: GET /debug/pprof/goroutine = %d, want %d", enabled, rec.Code, want)
		}
		if enabled && !strings.Contains(rec.Body.String(), "goroutine profile") {
			t.Errorf("enable_debug: body is not a goroutine profile: %.80s", rec.Body.String())
		}
	}
}

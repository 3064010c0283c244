package agent

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/agent/config"
)

func uiAgent(t *testing.T, mutate func(*config.Config)) http.Handler {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.NodeName, cfg.Datacenter = "ui-node", "dc1"
	mutate(cfg)
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.cancel() })
	return a.routes()
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// TestUIRoutes: the console is served under /ui/ and / redirects there
// only when the console is on; off, / names the agent and /ui/ is 404.
func TestUIRoutes(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		h := uiAgent(t, func(c *config.Config) { c.UI = true })
		rec := serve(h, http.MethodGet, "/")
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/ui/" {
			t.Fatalf("GET / = %d Location %q, want 302 /ui/", rec.Code, rec.Header().Get("Location"))
		}
		if rec := serve(h, http.MethodGet, "/ui"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/" {
			t.Errorf("GET /ui = %d %q", rec.Code, rec.Header().Get("Location"))
		}
		for path, ctype := range map[string]string{
			"/ui/":               "text/html; charset=utf-8",
			"/ui/js/api.js":      "text/javascript; charset=utf-8",
			"/ui/css/base.css":   "text/css; charset=utf-8",
			"/ui/icon.svg":       "image/svg+xml",
			"/ui/js/views/kv.js": "text/javascript; charset=utf-8",
		} {
			rec := serve(h, http.MethodGet, path)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ctype {
				t.Errorf("GET %s = %d %q, want 200 %q", path, rec.Code, rec.Header().Get("Content-Type"), ctype)
			}
		}
		for _, path := range []string{"/ui/missing.js", "/ui/js/", "/ui/css/nope.css"} {
			if rec := serve(h, http.MethodGet, path); rec.Code != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", path, rec.Code)
			}
		}
		// Other methods get the API's 405 with Allow.
		if rec := serve(h, http.MethodPut, "/ui/"); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "OPTIONS,GET,HEAD" {
			t.Errorf("PUT /ui/ = %d Allow %q", rec.Code, rec.Header().Get("Allow"))
		}
		// The API is untouched by the console.
		if rec := serve(h, http.MethodGet, "/v1/no/such/endpoint"); rec.Code != http.StatusNotFound {
			t.Errorf("GET /v1/no/such/endpoint = %d", rec.Code)
		}
	})
	t.Run("off", func(t *testing.T) {
		h := uiAgent(t, func(c *config.Config) { c.UI = false })
		rec := serve(h, http.MethodGet, "/")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Meridian agent") {
			t.Fatalf("GET / = %d %q", rec.Code, rec.Body.String())
		}
		for _, path := range []string{"/ui/", "/ui/js/main.js", "/ui"} {
			if rec := serve(h, http.MethodGet, path); rec.Code != http.StatusNotFound {
				t.Errorf("console off: GET %s = %d, want 404", path, rec.Code)
			}
		}
	})
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("own console"), 0o644); err != nil {
			t.Fatal(err)
		}
		h := uiAgent(t, func(c *config.Config) { c.UIDir = dir }) // a dir turns the console on
		if rec := serve(h, http.MethodGet, "/"); rec.Code != http.StatusFound {
			t.Errorf("GET / with ui_dir = %d", rec.Code)
		}
		if rec := serve(h, http.MethodGet, "/ui/"); rec.Body.String() != "own console" {
			t.Errorf("GET /ui/ with ui_dir = %d %q", rec.Code, rec.Body.String())
		}
	})
	t.Run("bad dir", func(t *testing.T) {
		h := uiAgent(t, func(c *config.Config) { c.UIDir = filepath.Join(t.TempDir(), "missing") })
		rec := serve(h, http.MethodGet, "/ui/")
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "missing") {
			t.Errorf("GET /ui/ with a missing ui_dir = %d %q", rec.Code, rec.Body.String())
		}
	})
}

// TestUIConfigKeys: -ui, ui_config.enabled, ui_dir and -dev turn the
// console on.
func TestUIConfigKeys(t *testing.T) {
	dir := t.TempDir()
	hcl := filepath.Join(dir, "ui.hcl")
	if err := os.WriteFile(hcl, []byte("ui_config { enabled = true\n dir = \""+dir+"\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		ui    bool
		uiDir string
	}{
		{[]string{"-data-dir", dir}, false, ""},
		{[]string{"-data-dir", dir, "-ui"}, true, ""},
		{[]string{"-dev"}, true, ""},
		{[]string{"-dev", "-ui=false"}, false, ""},
		{[]string{"-data-dir", dir, "-ui-dir", dir}, false, dir},
		{[]string{"-data-dir", dir, "-config-file", hcl}, true, dir},
		{[]string{"-data-dir", dir, "-hcl", `ui_dir = "` + dir + `"`}, false, dir},
	} {
		args := tc.args
		if args[0] != "-dev" {
			// The host's interfaces must not decide the bind address.
			args = append([]string{"-bind", "127.0.0.1"}, args...)
		}
		cfg, warnings, err := config.Load(args)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if cfg.UI != tc.ui || cfg.UIDir != tc.uiDir {
			t.Errorf("%v: UI %v UIDir %q, want %v %q", tc.args, cfg.UI, cfg.UIDir, tc.ui, tc.uiDir)
		}
		for _, w := range warnings {
			if strings.Contains(w, "ui") {
				t.Errorf("%v: warning %q", tc.args, w)
			}
		}
	}
}

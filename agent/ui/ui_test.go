package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerServesAssets(t *testing.T) {
	h, err := Handler("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, ctype string
		code        int
		body        string
	}{
		{"/ui/", "text/html; charset=utf-8", 200, `<script type="module" src="js/main.js">`},
		{"/ui/index.html", "text/html; charset=utf-8", 200, "<title>Meridian</title>"},
		{"/ui/css/base.css", "text/css; charset=utf-8", 200, "prefers-color-scheme: dark"},
		{"/ui/js/main.js", "text/javascript; charset=utf-8", 200, "import"},
		{"/ui/js/views/services.js", "text/javascript; charset=utf-8", 200, "/v1/internal/ui/services"},
		{"/ui/icon.svg", "image/svg+xml", 200, "<svg"},
		{"/ui/nope.js", "", 404, ""},
		{"/ui/js/", "", 404, ""}, // a directory is not listed
		{"/ui/js", "", 404, ""},  // nor served
		{"/ui/../go.mod", "", 404, ""},
		{"/ui/js/../index.html", "", 404, ""}, // only clean paths
		{"/elsewhere", "", 404, ""},
	} {
		rec := get(t, h, http.MethodGet, tc.path, nil)
		if rec.Code != tc.code {
			t.Errorf("GET %s = %d, want %d", tc.path, rec.Code, tc.code)
			continue
		}
		if tc.code != 200 {
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.body)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
}

func TestHandlerETagAndMethods(t *testing.T) {
	h, err := Handler("")
	if err != nil {
		t.Fatal(err)
	}
	rec := get(t, h, http.MethodGet, "/ui/js/api.js", nil)
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, http.MethodGet, "/ui/js/api.js", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
		t.Errorf("revalidation = %d, want 304", rec.Code)
	}
	if rec := get(t, h, http.MethodHead, "/ui/", nil); rec.Code != 200 {
		t.Errorf("HEAD /ui/ = %d", rec.Code)
	}
	if rec := get(t, h, http.MethodPost, "/ui/", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /ui/ = %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestAssetsStayLocal: no asset names another host, a CDN or a web font,
// and every module import resolves to an embedded file.
func TestAssetsStayLocal(t *testing.T) {
	files := Assets()
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|@font-face|fonts\.googleapis`)
	imports := regexp.MustCompile(`(?m)^import .* from '([^']+)';`)
	n := 0
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		text := string(data)
		if strings.HasSuffix(name, ".svg") {
			text = strings.ReplaceAll(text, "http://www.w3.org/2000/svg", "")
		}
		if strings.HasSuffix(name, ".js") {
			text = strings.ReplaceAll(text, "'http://www.w3.org/2000/svg'", "")
		}
		if m := remote.FindString(text); m != "" {
			t.Errorf("%s refers to %q", name, m)
		}
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			target := filepath.ToSlash(filepath.Join(filepath.Dir(name), m[1]))
			if _, err := fs.Stat(files, target); err != nil {
				t.Errorf("%s imports %s: %v", name, m[1], err)
			}
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

func TestHandlerDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>mine</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Handler(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(t, h, http.MethodGet, "/ui/", nil); rec.Code != 200 || rec.Body.String() != "<p>mine</p>" {
		t.Errorf("GET /ui/ from dir = %d %q", rec.Code, rec.Body.String())
	}
	if rec := get(t, h, http.MethodGet, "/ui/js/main.js", nil); rec.Code != 404 {
		t.Errorf("embedded file served from a dir that lacks it: %d", rec.Code)
	}
	if _, err := Handler(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing ui dir accepted")
	}
	if _, err := Handler(filepath.Join(dir, "index.html")); err == nil {
		t.Error("a file accepted as ui dir")
	}
}

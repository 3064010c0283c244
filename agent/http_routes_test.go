package agent

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/agent/config"
)

// wildcard matches a ServeMux pattern's wildcards: {name}, {name...}, {$}.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// concretePath turns a route pattern's path into a request path it serves.
func concretePath(path string) string {
	return wildcard.ReplaceAllStringFunc(path, func(w string) string {
		switch {
		case w == "{$}":
			return ""
		case strings.HasSuffix(w, "...}"):
			return "some/key"
		default:
			return "x"
		}
	})
}

// patternMatches reports whether a ServeMux pattern's path matches url:
// {name} takes one non-empty segment, {name...} the rest, {$} ends the
// path, and a trailing slash matches the subtree.
func patternMatches(pattern, url string) bool {
	ps, us := strings.Split(pattern, "/"), strings.Split(url, "/")
	for i, p := range ps {
		switch {
		case p == "{$}":
			return i == len(us)-1 && us[i] == ""
		case strings.HasSuffix(p, "...}"):
			return i < len(us)
		case i == len(ps)-1 && p == "":
			return i < len(us) // trailing slash: the subtree
		case i >= len(us):
			return false
		case strings.HasPrefix(p, "{"):
			if us[i] == "" {
				return false
			}
		case p != us[i]:
			return false
		}
	}
	return len(ps) == len(us)
}

// TestWrongMethodIs405 goes over every registered route: each method no
// route serves at that path is a 405 whose Allow header lists exactly the
// methods that are served (with OPTIONS, which answers 200 with the same
// header); unknown paths stay 404.
func TestWrongMethodIs405(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.NodeName, cfg.EnableDebug = "routes-node", true // debug: the pprof routes too
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.cancel() })
	handler, patterns := a.router()
	if len(patterns) < 50 {
		t.Fatalf("router lists %d routes: %q", len(patterns), patterns)
	}

	// The methods served at each route's path, from the patterns alone: a
	// path may be matched by the wildcard of another route too (GET
	// /v1/agent/service/{id} serves /v1/agent/service/register).
	type route struct{ method, path string }
	var routes []route
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Fatalf("route %q has no method", p)
		}
		routes = append(routes, route{method, path})
	}
	served := map[string][]string{}
	for _, r := range routes {
		url := concretePath(r.path)
		for _, other := range routes {
			if patternMatches(other.path, url) {
				served[r.path] = append(served[r.path], other.method)
				if other.method == http.MethodGet {
					served[r.path] = append(served[r.path], http.MethodHead)
				}
			}
		}
	}
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	checked := 0
	for path, methods := range served {
		var want []string
		for _, m := range routeMethods {
			if slices.Contains(methods, m) {
				want = append(want, m)
			}
		}
		wantAllow := "OPTIONS," + strings.Join(want, ",")
		url := concretePath(path)
		tested := 0
		for _, m := range routeMethods {
			if slices.Contains(methods, m) {
				continue
			}
			tested++
			rec := serve(m, url)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != wantAllow {
				t.Errorf("%s %s (route %s): %d Allow %q, want 405 Allow %q (%s)",
					m, url, path, rec.Code, rec.Header().Get("Allow"), wantAllow, strings.TrimSpace(rec.Body.String()))
			}
			if m != http.MethodHead && !strings.Contains(rec.Body.String(), "method "+m+" not allowed") {
				t.Errorf("%s %s: body %q", m, url, rec.Body.String())
			}
		}
		checked += tested
		if tested == 0 {
			t.Errorf("route %s serves every method; nothing tested", path)
		}
		if rec := serve(http.MethodOptions, url); rec.Code != http.StatusOK || rec.Header().Get("Allow") != wantAllow {
			t.Errorf("OPTIONS %s: %d Allow %q, want 200 Allow %q", url, rec.Code, rec.Header().Get("Allow"), wantAllow)
		}
	}

	t.Logf("%d routes on %d paths: %d wrong-method requests answered 405", len(routes), len(served), checked)

	// KV keys are routed verbatim, outside ServeMux's path cleaning.
	if rec := serve(http.MethodPatch, "/v1/kv/a//b"); rec.Code != http.StatusMethodNotAllowed ||
		rec.Header().Get("Allow") != "OPTIONS,GET,HEAD,PUT,POST,DELETE" {
		t.Errorf("PATCH /v1/kv/a//b: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	for _, path := range []string{"/v1/nope", "/v1/catalog/nope", "/v1/catalog/service/", "/v2/kv/x", "/nope", "/ui/"} {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodOptions} {
			if rec := serve(m, path); rec.Code != http.StatusNotFound || rec.Header().Get("Allow") != "" {
				t.Errorf("%s %s: %d Allow %q, want 404 without Allow", m, path, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
}

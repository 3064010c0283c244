package agent

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzTokenHeaders: requestToken takes the token from ?token=, then
// X-Consul-Token, then "Authorization: Bearer", whatever they hold, and
// never panics.
func FuzzTokenHeaders(f *testing.F) {
	f.Add("", "secret", "")
	f.Add("q", "h", "Bearer b")
	f.Add("", "", "Bearer   spaced  ")
	f.Add("", "", "bearer lower")
	f.Add("", "", "Basic dXNlcjpwYXNz")
	f.Add("\x00", "\xff", "Bearer \n")
	f.Fuzz(func(t *testing.T, query, header, auth string) {
		r := &http.Request{Method: "GET", Header: http.Header{},
			URL: &url.URL{Path: "/v1/kv/x", RawQuery: url.Values{"token": {query}}.Encode()}}
		if header != "" {
			r.Header.Set("X-Consul-Token", header)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		got := requestToken(r)
		want := ""
		bearer, isBearer := strings.CutPrefix(auth, "Bearer ")
		switch {
		case query != "":
			want = query
		case header != "":
			want = header
		case isBearer:
			want = strings.TrimSpace(bearer)
		}
		if got != want {
			t.Fatalf("requestToken(token=%q, X-Consul-Token=%q, Authorization=%q) = %q, want %q", query, header, auth, got, want)
		}
	})
}

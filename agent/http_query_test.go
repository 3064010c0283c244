package agent

import (
	"context"
	"net/http/httptest"
	"testing"
)

func TestQueryIsParsedOnceAndFollowsTheURL(t *testing.T) {
	r := httptest.NewRequest("GET", "/v1/kv/a?dc=*&recurse&token=t", nil)
	if got := query(r).Get("token"); got != "t" {
		t.Fatalf("without a cache: token %q", got)
	}
	cached := r.URL.Query()
	r = r.WithContext(context.WithValue(r.Context(), queryKey{}, &parsedQuery{raw: r.URL.RawQuery, vals: cached}))
	q := query(r)
	q.Set("probe", "1") // the cached map itself is handed out
	if query(r).Get("probe") != "1" {
		t.Fatal("query parsed the URL again instead of using the cache")
	}
	// A request rewritten after the cache was filled (?dc=* handling)
	// gets its new parameters, and the cache is left as it was.
	r2, all := withoutAllDC(r)
	if !all {
		t.Fatal("?dc=* not recognised")
	}
	if _, has := query(r2)["dc"]; has || query(r2).Get("token") != "t" {
		t.Fatalf("rewritten request: %v", query(r2))
	}
	if cached.Get("dc") != "*" {
		t.Fatal("withoutAllDC modified the shared parameters")
	}
}

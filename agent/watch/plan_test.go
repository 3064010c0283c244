package watch

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseTypes(t *testing.T) {
	cases := []struct {
		name string
		def  map[string]any
		want Plan
	}{
		{"key", map[string]any{"type": "key", "key": "cfg/x", "datacenter": "east", "token": "t1", "stale": true},
			Plan{Type: TypeKey, Key: "cfg/x", Datacenter: "east", Token: "t1", Stale: true}},
		{"keyprefix", map[string]any{"type": "keyprefix", "prefix": "cfg/"},
			Plan{Type: TypeKeyPrefix, Prefix: "cfg/"}},
		{"services", map[string]any{"type": "services", "filter": `"x" in ServiceTags`},
			Plan{Type: TypeServices, Filter: `"x" in ServiceTags`}},
		{"nodes", map[string]any{"type": "nodes"}, Plan{Type: TypeNodes}},
		{"service one tag", map[string]any{"type": "service", "service": "web", "tag": "v1", "passingonly": true},
			Plan{Type: TypeService, Service: "web", Tags: []string{"v1"}, PassingOnly: true}},
		{"service tag list", map[string]any{"type": "service", "service": "web", "tag": []any{"v1", "eu"}},
			Plan{Type: TypeService, Service: "web", Tags: []string{"v1", "eu"}}},
		{"service []string tags", map[string]any{"type": "service", "service": "web", "tag": []string{"a"}},
			Plan{Type: TypeService, Service: "web", Tags: []string{"a"}}},
		{"checks default state", map[string]any{"type": "checks"}, Plan{Type: TypeChecks, State: "any"}},
		{"checks state", map[string]any{"type": "checks", "state": "critical"}, Plan{Type: TypeChecks, State: "critical"}},
		{"checks service", map[string]any{"type": "checks", "service": "web"}, Plan{Type: TypeChecks, Service: "web"}},
		{"event", map[string]any{"type": "event", "name": "deploy"}, Plan{Type: TypeEvent, Name: "deploy"}},
		{"event any name", map[string]any{"type": "event"}, Plan{Type: TypeEvent}},
		{"script args", map[string]any{"type": "nodes", "args": []any{"/bin/h", "-v"}},
			Plan{Type: TypeNodes, HandlerType: HandlerScript, Args: []string{"/bin/h", "-v"}}},
		{"script explicit", map[string]any{"type": "nodes", "handler_type": "script", "args": []any{"/bin/h"}},
			Plan{Type: TypeNodes, HandlerType: HandlerScript, Args: []string{"/bin/h"}}},
		{"deprecated handler", map[string]any{"type": "nodes", "handler": "echo hi > /tmp/x"},
			Plan{Type: TypeNodes, HandlerType: HandlerScript, Args: []string{"/bin/sh", "-c", "echo hi > /tmp/x"}}},
		{"http handler", map[string]any{"type": "key", "key": "k", "handler_type": "http", "http_handler_config": map[string]any{
			"path": "https://hooks.example/x", "method": "put", "timeout": "3s", "tls_skip_verify": true,
			"header": map[string]any{"X-A": []any{"1", "2"}, "X-B": "3"},
		}}, Plan{Type: TypeKey, Key: "k", HandlerType: HandlerHTTP, HTTPHandler: &HTTPHandlerConfig{
			Path: "https://hooks.example/x", Method: "PUT", Timeout: 3 * time.Second, TLSSkipVerify: true,
			Header: map[string][]string{"X-A": {"1", "2"}, "X-B": {"3"}},
		}}},
		{"http handler defaults, HCL list shape", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": []map[string]any{{"path": "http://127.0.0.1:9/h", "tls_skip_verify": "false"}}},
			Plan{Type: TypeNodes, HandlerType: HandlerHTTP, HTTPHandler: &HTTPHandlerConfig{
				Path: "http://127.0.0.1:9/h", Method: "POST", Timeout: DefaultHTTPHandlerTimeout,
			}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := deepCopy(tc.def)
			p, err := Parse(tc.def)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*p, tc.want) {
				t.Errorf("plan:\n%+v\nwant:\n%+v", *p, tc.want)
			}
			if !reflect.DeepEqual(tc.def, before) {
				t.Errorf("Parse changed its input: %v, was %v", tc.def, before)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		def  map[string]any
		want string
	}{
		{"no type", map[string]any{"key": "x"}, `missing "type"`},
		{"type not a string", map[string]any{"type": 3.0}, `"type" must be a string, not a number`},
		{"unknown type", map[string]any{"type": "connect_roots"}, `unknown type "connect_roots"`},
		{"key without key", map[string]any{"type": "key"}, `type "key" needs a "key"`},
		{"keyprefix without prefix", map[string]any{"type": "keyprefix"}, `type "keyprefix" needs a "prefix"`},
		{"service without service", map[string]any{"type": "service", "tag": "x"}, `type "service" needs a "service"`},
		{"key with service", map[string]any{"type": "key", "key": "k", "service": "web"}, `type "key" does not take "service"`},
		{"unknown keys sorted", map[string]any{"type": "nodes", "zeta": 1.0, "limit": 3.0}, `type "nodes" does not take "limit", "zeta"`},
		{"event takes no stale", map[string]any{"type": "event", "stale": true}, `type "event" does not take "stale"`},
		{"checks both", map[string]any{"type": "checks", "service": "web", "state": "passing"}, `"service" or "state", not both`},
		{"checks bad state", map[string]any{"type": "checks", "state": "sad"}, `invalid state "sad"`},
		{"passingonly string", map[string]any{"type": "service", "service": "w", "passingonly": "yes"}, `"passingonly" must be a boolean, not a string`},
		{"tag number", map[string]any{"type": "service", "service": "w", "tag": []any{"a", 1.0}}, `"tag" element 1 must be a string, not a number`},
		{"tag object", map[string]any{"type": "service", "service": "w", "tag": map[string]any{}}, `"tag" must be a string or a list of strings, not an object`},
		{"args not strings", map[string]any{"type": "nodes", "args": []any{true}}, `"args" element 0 must be a string`},
		{"args and handler", map[string]any{"type": "nodes", "args": []any{"a"}, "handler": "b"}, `not both`},
		{"script without args", map[string]any{"type": "nodes", "handler_type": "script"}, `handler_type "script" needs "args"`},
		{"unknown handler type", map[string]any{"type": "nodes", "handler_type": "grpc"}, `unknown handler_type "grpc"`},
		{"http without config", map[string]any{"type": "nodes", "handler_type": "http"}, `needs "http_handler_config"`},
		{"http with args", map[string]any{"type": "nodes", "handler_type": "http", "args": []any{"a"},
			"http_handler_config": map[string]any{"path": "http://h/"}}, `not "args" or "handler"`},
		{"config without http", map[string]any{"type": "nodes", "args": []any{"a"},
			"http_handler_config": map[string]any{"path": "http://h/"}}, `needs handler_type "http"`},
		{"http no path", map[string]any{"type": "nodes", "handler_type": "http", "http_handler_config": map[string]any{}}, `missing "path"`},
		{"http relative path", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "/hook"}}, `want an http:// or https:// URL`},
		{"http bad timeout", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "http://h/", "timeout": "10"}}, `invalid timeout "10"`},
		{"http bad method", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "http://h/", "method": "PO ST"}}, `invalid method "PO ST"`},
		{"http unknown field", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "http://h/", "retries": 3.0}}, `unknown field "retries"`},
		{"http bad header", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "http://h/", "header": map[string]any{"X": 1.0}}}, `header "X" must be a string or a list of strings`},
		{"http config not object", map[string]any{"type": "nodes", "handler_type": "http", "http_handler_config": "x"}, `must be an object, not a string`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.def)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error containing %q", p, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error = %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	cases := []struct {
		def        map[string]any
		path, want string
	}{
		{map[string]any{"type": "key", "key": "a b/c"}, "/v1/kv/a b/c", ""},
		{map[string]any{"type": "keyprefix", "prefix": "app/", "stale": true, "datacenter": "dc2"}, "/v1/kv/app/", "dc=dc2&recurse=&stale="},
		{map[string]any{"type": "services", "filter": "x"}, "/v1/catalog/services", "filter=x"},
		{map[string]any{"type": "nodes"}, "/v1/catalog/nodes", ""},
		{map[string]any{"type": "service", "service": "web", "tag": []any{"a", "b"}, "passingonly": true}, "/v1/health/service/web", "passing=1&tag=a&tag=b"},
		{map[string]any{"type": "checks"}, "/v1/health/state/any", ""},
		{map[string]any{"type": "checks", "state": "warning"}, "/v1/health/state/warning", ""},
		{map[string]any{"type": "checks", "service": "db"}, "/v1/health/checks/db", ""},
		{map[string]any{"type": "event", "name": "deploy"}, "/v1/event/list", "name=deploy"},
	}
	for _, tc := range cases {
		p, err := Parse(tc.def)
		if err != nil {
			t.Fatal(err)
		}
		path, q := newQuerier(p, mustAddr(t, "127.0.0.1:1")).endpoint()
		if path != tc.path || q.Encode() != tc.want {
			t.Errorf("%v: endpoint = %s ?%s, want %s ?%s", tc.def, path, q.Encode(), tc.path, tc.want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8500":           "http://127.0.0.1:8500",
		"https://h:1/":             "https://h:1",
		"http://h:1/prefix/":       "http://h:1/prefix",
		"ftp://h:1":                "error",
		"http://":                  "error",
		"  http://[::1]:8500/api ": "http://[::1]:8500/api",
	} {
		u, err := ParseAddr(in)
		got := u.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseAddr(%q) = %s (%v), want %s", in, got, err, want)
		}
	}
}

func TestEventIDToIndex(t *testing.T) {
	// Computed with Consul's api.Event.IDToIndex.
	if got, want := EventIDToIndex("b54fe110-7af5-cafc-d1fb-afc8ba432b1c"), uint64(0xb54fe1107af5cafc^0xd1fbafc8ba432b1c); got != want {
		t.Errorf("EventIDToIndex = %x, want %x", got, want)
	}
	for _, bad := range []string{"", "nope", "zzzzzzzz-7af5-cafc-d1fb-afc8ba432b1c", "b54fe1107af5-cafc-d1fb-afc8ba432b1c0"} {
		if got := EventIDToIndex(bad); got != 0 {
			t.Errorf("EventIDToIndex(%q) = %d, want 0", bad, got)
		}
	}
}

func mustAddr(t *testing.T, addr string) url.URL {
	t.Helper()
	u, err := ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func deepCopy(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, e := range v {
		switch e := e.(type) {
		case map[string]any:
			out[k] = deepCopy(e)
		case []any:
			out[k] = append([]any(nil), e...)
		default:
			out[k] = e
		}
	}
	return out
}

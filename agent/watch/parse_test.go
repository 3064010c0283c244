package watch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		def     map[string]any
		typ     string
		handler string
		args    []string
		http    *HTTPHandlerConfig
	}{
		{"key", map[string]any{"type": "key", "key": "cfg/x", "datacenter": "east", "token": "t1", "stale": true}, "key", "", nil, nil},
		{"keyprefix", map[string]any{"type": "keyprefix", "prefix": "cfg/"}, "keyprefix", "", nil, nil},
		{"services", map[string]any{"type": "services", "filter": `"x" in ServiceTags`}, "services", "", nil, nil},
		{"nodes", map[string]any{"type": "nodes"}, "nodes", "", nil, nil},
		{"service tag list", map[string]any{"type": "service", "service": "web", "tag": []any{"v1", "eu"}, "passingonly": true}, "service", "", nil, nil},
		{"checks state", map[string]any{"type": "checks", "state": "critical"}, "checks", "", nil, nil},
		{"event", map[string]any{"type": "event", "name": "deploy"}, "event", "", nil, nil},
		{"script args", map[string]any{"type": "nodes", "args": []any{"/bin/h", "-v"}}, "nodes", HandlerScript, []string{"/bin/h", "-v"}, nil},
		{"script explicit", map[string]any{"type": "nodes", "handler_type": "script", "args": []any{"/bin/h"}}, "nodes", HandlerScript, []string{"/bin/h"}, nil},
		{"deprecated handler", map[string]any{"type": "nodes", "handler": "echo hi > /tmp/x"}, "nodes", HandlerScript,
			[]string{"/bin/sh", "-c", "echo hi > /tmp/x"}, nil},
		{"http handler", map[string]any{"type": "key", "key": "k", "handler_type": "http", "http_handler_config": map[string]any{
			"path": "https://hooks.example/x", "method": "put", "timeout": "3s", "tls_skip_verify": true,
			"header": map[string]any{"X-A": []any{"1", "2"}, "X-B": "3"},
		}}, "key", HandlerHTTP, nil, &HTTPHandlerConfig{
			Path: "https://hooks.example/x", Method: "PUT", Timeout: 3 * time.Second, TimeoutRaw: "3s", TLSSkipVerify: true,
			Header: map[string][]string{"X-A": {"1", "2"}, "X-B": {"3"}},
		}},
		{"http handler defaults, HCL list shape", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": []map[string]any{{"path": "http://127.0.0.1:9/h", "tls_skip_verify": "false"}}},
			"nodes", HandlerHTTP, nil, &HTTPHandlerConfig{Path: "http://127.0.0.1:9/h", Method: "POST", Timeout: DefaultHTTPHandlerTimeout}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := deepCopy(tc.def)
			d, err := Parse(tc.def)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Plan.Type != tc.typ || d.HandlerType != tc.handler || !reflect.DeepEqual(d.Args, tc.args) || !reflect.DeepEqual(d.HTTP, tc.http) {
				t.Errorf("got type %q handler %q args %q http %+v; want %q %q %q %+v",
					d.Plan.Type, d.HandlerType, d.Args, d.HTTP, tc.typ, tc.handler, tc.args, tc.http)
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
		{"no type", map[string]any{"key": "x"}, `Watch type must be specified`},
		{"type not a string", map[string]any{"type": 3.0}, `Expecting type to be a string`},
		{"type Meridian does not serve", map[string]any{"type": "connect_roots"}, `unsupported watch type "connect_roots"`},
		{"unknown type", map[string]any{"type": "nope"}, `unsupported watch type "nope"`},
		{"key without key", map[string]any{"type": "key"}, `Must specify a single key to watch`},
		{"keyprefix without prefix", map[string]any{"type": "keyprefix"}, `Must specify a single prefix to watch`},
		{"service without service", map[string]any{"type": "service", "tag": "x"}, `Must specify a single service to watch`},
		{"key with service", map[string]any{"type": "key", "key": "k", "service": "web"}, `Invalid parameters: [service]`},
		{"event takes no stale", map[string]any{"type": "event", "stale": true}, `Invalid parameters: [stale]`},
		{"checks both", map[string]any{"type": "checks", "service": "web", "state": "passing"}, `Cannot specify service and state`},
		{"passingonly string", map[string]any{"type": "service", "service": "w", "passingonly": "yes"}, `Expecting passingonly to be a boolean`},
		{"tag number", map[string]any{"type": "service", "service": "w", "tag": []any{"a", 1.0}}, `Index 1 of tag expected to be string`},
		{"args not strings", map[string]any{"type": "nodes", "args": []any{true}}, `args element 0 must be a string`},
		{"args and handler", map[string]any{"type": "nodes", "args": []any{"a"}, "handler": "b"}, `not both`},
		{"script without args", map[string]any{"type": "nodes", "handler_type": "script"}, `handler_type "script" needs "args"`},
		{"unknown handler type", map[string]any{"type": "nodes", "handler_type": "grpc"}, `unknown handler_type "grpc"`},
		{"http without config", map[string]any{"type": "nodes", "handler_type": "http"}, `requires 'http_handler_config'`},
		{"http with args", map[string]any{"type": "nodes", "handler_type": "http", "args": []any{"a"},
			"http_handler_config": map[string]any{"path": "http://h/"}}, `not "args" or "handler"`},
		{"http no path", map[string]any{"type": "nodes", "handler_type": "http", "http_handler_config": map[string]any{}}, `Requires 'path' to be set`},
		{"http relative path", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "/hook"}}, `want an http:// or https:// URL`},
		{"http bad timeout", map[string]any{"type": "nodes", "handler_type": "http",
			"http_handler_config": map[string]any{"path": "http://h/", "timeout": "10"}}, `Failed to parse timeout`},
		{"http config not object", map[string]any{"type": "nodes", "handler_type": "http", "http_handler_config": "x"}, `Failed to parse 'http_handler_config'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.def)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error containing %q", d, tc.want)
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

func TestParseAddr(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{in: "127.0.0.1:8500", want: "http://127.0.0.1:8500"},
		{in: "https://h:1/p/", want: "https://h:1/p"},
		{in: "ftp://h:1", err: `unsupported scheme "ftp"`},
		{in: "http://:1", err: "missing host"},
	}
	for _, tc := range cases {
		u, err := ParseAddr(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseAddr(%q) = %v, want error %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || u.String() != tc.want):
			t.Errorf("ParseAddr(%q) = %v, %v; want %s", tc.in, u.String(), err, tc.want)
		}
	}
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if inner, ok := v.(map[string]any); ok {
			v = deepCopy(inner)
		}
		out[k] = v
	}
	return out
}

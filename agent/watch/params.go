package watch

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// paramReader reads typed values out of a watch definition. The first
// error sticks; later reads return zero values.
type paramReader struct {
	def map[string]any
	err error
}

func (r *paramReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// str reads a string parameter; absent is "".
func (r *paramReader) str(name string) string {
	v, ok := r.def[name]
	if !ok || r.err != nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail("%q must be a string, not %s", name, kindOf(v))
		return ""
	}
	return s
}

// boolean reads a bool parameter; absent is false.
func (r *paramReader) boolean(name string) bool {
	v, ok := r.def[name]
	if !ok || r.err != nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.fail("%q must be a boolean, not %s", name, kindOf(v))
	}
	return b
}

// strs reads a parameter that is a string or a list of strings.
func (r *paramReader) strs(name string) []string {
	v, ok := r.def[name]
	if !ok || r.err != nil {
		return nil
	}
	out, err := toStrings(v)
	if err != nil {
		r.fail("%q %v", name, err)
	}
	return out
}

func toStrings(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []string:
		return slices.Clone(v), nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d must be a string, not %s", i, kindOf(e))
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("must be a string or a list of strings, not %s", kindOf(v))
	}
}

// kindOf names the JSON kind of v for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, float32, int, int64, uint64:
		return "a number"
	case []any, []string, []map[string]any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// parseHTTPHandlerConfig reads http_handler_config: path (an http or https
// URL), method (POST), header (name to a string or a list of strings),
// timeout (a duration string, 10s) and tls_skip_verify.
func parseHTTPHandlerConfig(raw any) (*HTTPHandlerConfig, error) {
	if l, ok := raw.([]map[string]any); ok && len(l) == 1 {
		raw = l[0] // an HCL block may come as a list of one object
	}
	if l, ok := raw.([]any); ok && len(l) == 1 {
		raw = l[0]
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be an object, not %s", kindOf(raw))
	}
	r := paramReader{def: m}
	for k := range m {
		switch k {
		case "path", "method", "header", "timeout", "tls_skip_verify":
		default:
			return nil, fmt.Errorf("unknown field %q (want path, method, header, timeout, tls_skip_verify)", k)
		}
	}
	cfg := &HTTPHandlerConfig{
		Path:    r.str("path"),
		Method:  strings.ToUpper(r.str("method")),
		Timeout: DefaultHTTPHandlerTimeout,
	}
	timeout := r.str("timeout")
	switch v := m["tls_skip_verify"].(type) {
	case nil:
	case bool:
		cfg.TLSSkipVerify = v
	case string: // Consul decodes weakly: "true" works too
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("tls_skip_verify: invalid boolean %q", v)
		}
		cfg.TLSSkipVerify = b
	default:
		return nil, fmt.Errorf("tls_skip_verify must be a boolean, not %s", kindOf(v))
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := checkHandlerURL(cfg.Path); err != nil {
		return nil, err
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if !validMethod(cfg.Method) {
		return nil, fmt.Errorf("invalid method %q", cfg.Method)
	}
	if timeout != "" {
		d, err := time.ParseDuration(timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("invalid timeout %q (want a positive duration such as \"10s\")", timeout)
		}
		cfg.Timeout = d
	}
	if h, ok := m["header"]; ok {
		header, err := parseHeader(h)
		if err != nil {
			return nil, err
		}
		cfg.Header = header
	}
	return cfg, nil
}

func checkHandlerURL(path string) error {
	if path == "" {
		return errors.New(`missing "path"`)
	}
	u, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("invalid path %q: %v", path, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid path %q (want an http:// or https:// URL)", path)
	}
	return nil
}

// validMethod reports whether m is an HTTP token.
func validMethod(m string) bool {
	for _, c := range m {
		if c < '!' || c > '~' || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return m != ""
}

func parseHeader(raw any) (map[string][]string, error) {
	if l, ok := raw.([]map[string]any); ok && len(l) == 1 {
		raw = l[0]
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("header must be an object, not %s", kindOf(raw))
	}
	out := make(map[string][]string, len(m))
	for name, v := range m {
		vals, err := toStrings(v)
		if err != nil {
			return nil, fmt.Errorf("header %q %v", name, err)
		}
		out[name] = vals
	}
	return out, nil
}

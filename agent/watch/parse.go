package watch

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	consulwatch "github.com/hashicorp/consul/api/watch"
)

// Types are the watch types Meridian serves, as Consul names them. The
// official client also knows connect_roots, connect_leaf and
// agent_service, whose endpoints Meridian does not have.
var Types = []string{"key", "keyprefix", "services", "nodes", "service", "checks", "event"}

// checkStates are the states a checks watch takes.
var checkStates = []string{"any", "passing", "warning", "critical"}

// Handler types of a watch definition.
const (
	HandlerScript = "script"
	HandlerHTTP   = "http"
)

// ErrInvalid is wrapped by every error of Parse and NewRunner about a bad
// watch definition.
var ErrInvalid = errors.New("invalid watch")

// HTTPHandlerConfig is an http handler: the result is sent as JSON to Path
// with Method, the extra Header, and X-Consul-Index set to the index.
type HTTPHandlerConfig = consulwatch.HttpHandlerConfig

// Definition is a parsed watch definition: the official client's plan
// (what to query) and the handler the agent runs for it, if any.
type Definition struct {
	Plan *consulwatch.Plan
	// HandlerType is "script" (Args), "http" (HTTP) or "" when the
	// definition has no handler.
	HandlerType string
	Args        []string
	HTTP        *HTTPHandlerConfig
}

// Parse reads a watch definition as the agent's `watches` configuration
// holds it (JSON shapes: strings, bools, numbers, lists and objects) with
// the official client's watch.ParseExempt, keeping "args" and the
// deprecated "handler" for the handler. It does not change def. Every
// error wraps ErrInvalid and is one line.
func Parse(def map[string]any) (*Definition, error) {
	d, err := parse(def)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return d, nil
}

func parse(def map[string]any) (*Definition, error) {
	params := maps.Clone(def) // ParseExempt consumes its map
	typ, _ := params["type"].(string)
	if typ != "" && !slices.Contains(Types, typ) {
		return nil, fmt.Errorf("unsupported watch type %q (want %s)", typ, strings.Join(Types, ", "))
	}
	if state, ok := params["state"].(string); ok && typ == "checks" && !slices.Contains(checkStates, state) {
		return nil, fmt.Errorf("invalid state %q (want %s)", state, strings.Join(checkStates, ", "))
	}
	if raw, ok := params["http_handler_config"]; ok {
		params["http_handler_config"] = unwrapBlock(raw)
	}
	plan, err := consulwatch.ParseExempt(params, []string{"args", "handler"})
	if err != nil {
		return nil, err
	}
	d := &Definition{Plan: plan, HandlerType: plan.HandlerType}
	args, err := stringList(plan.Exempt["args"])
	if err != nil {
		return nil, fmt.Errorf("args %v", err)
	}
	script, hasScript := plan.Exempt["handler"]
	switch d.HandlerType {
	case "", HandlerScript:
		switch s, _ := script.(string); {
		case hasScript && s == "":
			return nil, errors.New(`"handler" must be a non-empty string`)
		case len(args) > 0 && hasScript:
			return nil, errors.New(`give "args" or the deprecated "handler", not both`)
		case len(args) > 0:
			d.Args = args
		case hasScript:
			d.Args = []string{"/bin/sh", "-c", s}
		case d.HandlerType == HandlerScript:
			return nil, errors.New(`handler_type "script" needs "args"`)
		}
		if len(d.Args) > 0 {
			d.HandlerType = HandlerScript
		}
	case HandlerHTTP:
		if len(args) > 0 || hasScript {
			return nil, errors.New(`handler_type "http" takes "http_handler_config", not "args" or "handler"`)
		}
		cfg, _ := plan.Exempt["http_handler_config"].(*consulwatch.HttpHandlerConfig)
		if cfg == nil {
			return nil, errors.New(`handler_type "http" needs "http_handler_config"`)
		}
		if u, err := url.Parse(cfg.Path); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("http_handler_config: invalid path %q (want an http:// or https:// URL)", cfg.Path)
		}
		cfg.Method = strings.ToUpper(cfg.Method)
		d.HTTP = cfg
	default:
		return nil, fmt.Errorf("unknown handler_type %q (want script or http)", d.HandlerType)
	}
	return d, nil
}

// unwrapBlock turns an HCL block, which may decode as a list of one
// object, into the object, and gives http_handler_config the shapes the
// official client decodes strictly: a header given as one string becomes
// a list of one, and tls_skip_verify "true"/"false" a boolean (Consul's
// own config decoding is weak).
func unwrapBlock(v any) any {
	switch l := v.(type) {
	case []map[string]any:
		if len(l) == 1 {
			v = l[0]
		}
	case []any:
		if len(l) == 1 {
			v = l[0]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	m = maps.Clone(m)
	if b, err := strconv.ParseBool(fmt.Sprint(m["tls_skip_verify"])); err == nil {
		m["tls_skip_verify"] = b
	}
	if h, ok := unwrapBlock(m["header"]).(map[string]any); ok {
		header := make(map[string]any, len(h))
		for name, vals := range h {
			if s, ok := vals.(string); ok {
				vals = []string{s}
			}
			header[name] = vals
		}
		m["header"] = header
	}
	return m
}

// stringList reads a string or a list of strings; nil is an empty list.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []string:
		return slices.Clone(v), nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d must be a string, not %T", i, e)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("must be a string or a list of strings, not %T", v)
	}
}

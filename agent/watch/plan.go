package watch

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Watch types, as Consul names them.
const (
	TypeKey       = "key"
	TypeKeyPrefix = "keyprefix"
	TypeServices  = "services"
	TypeNodes     = "nodes"
	TypeService   = "service"
	TypeChecks    = "checks"
	TypeEvent     = "event"
)

// Handler types of a watch definition.
const (
	HandlerScript = "script"
	HandlerHTTP   = "http"
)

// Defaults of a plan.
const (
	// DefaultWait is how long one blocking query may wait for a change (the
	// agent's default query time).
	DefaultWait = 5 * time.Minute
	// DefaultHTTPHandlerTimeout bounds one call of an http handler.
	DefaultHTTPHandlerTimeout = 10 * time.Second
)

// ErrInvalid is wrapped by every error of Parse and NewRunner about a bad
// watch definition.
var ErrInvalid = errors.New("invalid watch")

// Plan is a parsed watch definition: what to query, how, and which handler
// the agent runs for it. A Plan is not changed by Run and may be run more
// than once, one run at a time.
type Plan struct {
	Type       string
	Datacenter string
	Token      string
	Stale      bool // allow any server to answer (not for event watches)

	// The query. Which fields apply depends on Type.
	Key         string   // key
	Prefix      string   // keyprefix
	Service     string   // service; checks of a service
	Tags        []string // service: every tag must match
	PassingOnly bool     // service: only instances whose checks all pass
	State       string   // checks: any, passing, warning or critical
	Name        string   // event: only events of this name
	Filter      string   // services, nodes, service, checks: filter expression

	// The handler the agent runs, if the definition has one: HandlerType
	// is "script" (Args) or "http" (HTTPHandler); "" when there is none.
	HandlerType string
	Args        []string
	HTTPHandler *HTTPHandlerConfig

	// Wait is the longest wait of one blocking query; 0 means DefaultWait.
	Wait time.Duration
	// Logger receives query errors; nil discards them.
	Logger *slog.Logger

	// sleep waits out a back-off; tests replace it to count and skip waits.
	sleep func(ctxDone <-chan struct{}, d time.Duration) bool
}

// HTTPHandlerConfig is an http handler: the result is sent as JSON to Path
// with Method, the extra Header, and X-Consul-Index set to the index.
type HTTPHandlerConfig struct {
	Path          string
	Method        string
	Header        map[string][]string
	Timeout       time.Duration
	TLSSkipVerify bool
}

// typeParams lists the parameters each watch type takes besides the common
// ones.
var typeParams = map[string][]string{
	TypeKey:       {"key", "stale"},
	TypeKeyPrefix: {"prefix", "stale"},
	TypeServices:  {"stale", "filter"},
	TypeNodes:     {"stale", "filter"},
	TypeService:   {"service", "tag", "passingonly", "stale", "filter"},
	TypeChecks:    {"service", "state", "stale", "filter"},
	TypeEvent:     {"name"},
}

var commonParams = []string{"type", "datacenter", "token", "handler_type", "args", "handler", "http_handler_config"}

var checkStates = map[string]bool{"any": true, "passing": true, "warning": true, "critical": true}

// Parse builds a plan from a watch definition as the agent's `watches`
// configuration holds it (JSON shapes: strings, bools, numbers, lists and
// objects). It does not change def. Every error wraps ErrInvalid and is one
// line.
func Parse(def map[string]any) (*Plan, error) {
	p, err := parse(def)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return p, nil
}

func parse(def map[string]any) (*Plan, error) {
	r := paramReader{def: def}
	p := &Plan{}
	p.Type = r.str("type")
	if r.err != nil {
		return nil, r.err
	}
	allowed, ok := typeParams[p.Type]
	switch {
	case p.Type == "":
		return nil, errors.New(`missing "type" (one of key, keyprefix, services, nodes, service, checks, event)`)
	case !ok:
		return nil, fmt.Errorf("unknown type %q (want key, keyprefix, services, nodes, service, checks or event)", p.Type)
	}
	if unknown := unknownParams(def, allowed); len(unknown) > 0 {
		return nil, fmt.Errorf("type %q does not take %s", p.Type, strings.Join(unknown, ", "))
	}
	p.Datacenter = r.str("datacenter")
	p.Token = r.str("token")
	p.Key = r.str("key")
	p.Prefix = r.str("prefix")
	p.Service = r.str("service")
	p.Tags = r.strs("tag")
	p.PassingOnly = r.boolean("passingonly")
	p.State = r.str("state")
	p.Name = r.str("name")
	p.Filter = r.str("filter")
	p.Stale = r.boolean("stale")
	if r.err != nil {
		return nil, r.err
	}
	if err := p.checkQuery(); err != nil {
		return nil, err
	}
	if err := p.parseHandler(&r); err != nil {
		return nil, err
	}
	return p, nil
}

// checkQuery enforces what each type requires.
func (p *Plan) checkQuery() error {
	switch p.Type {
	case TypeKey:
		if p.Key == "" {
			return errors.New(`type "key" needs a "key"`)
		}
	case TypeKeyPrefix:
		if p.Prefix == "" {
			return errors.New(`type "keyprefix" needs a "prefix"`)
		}
	case TypeService:
		if p.Service == "" {
			return errors.New(`type "service" needs a "service"`)
		}
	case TypeChecks:
		if p.Service != "" && p.State != "" {
			return errors.New(`type "checks" takes "service" or "state", not both`)
		}
		if p.Service == "" && p.State == "" {
			p.State = "any"
		}
		if p.State != "" && !checkStates[p.State] {
			return fmt.Errorf("invalid state %q (want any, passing, warning or critical)", p.State)
		}
	}
	return nil
}

// parseHandler reads handler_type, args, handler and http_handler_config.
func (p *Plan) parseHandler(r *paramReader) error {
	p.HandlerType = r.str("handler_type")
	args := r.strs("args")
	script := r.str("handler")
	if r.err != nil {
		return r.err
	}
	_, hasHTTP := r.def["http_handler_config"]
	switch p.HandlerType {
	case "", HandlerScript:
		if hasHTTP {
			return errors.New(`"http_handler_config" needs handler_type "http"`)
		}
		switch {
		case len(args) > 0 && script != "":
			return errors.New(`give "args" or the deprecated "handler", not both`)
		case len(args) > 0:
			p.Args = args
		case script != "":
			p.Args = []string{"/bin/sh", "-c", script}
		case p.HandlerType == HandlerScript:
			return errors.New(`handler_type "script" needs "args"`)
		}
		if len(p.Args) > 0 {
			p.HandlerType = HandlerScript
		}
	case HandlerHTTP:
		if len(args) > 0 || script != "" {
			return errors.New(`handler_type "http" takes "http_handler_config", not "args" or "handler"`)
		}
		if !hasHTTP {
			return errors.New(`handler_type "http" needs "http_handler_config"`)
		}
		cfg, err := parseHTTPHandlerConfig(r.def["http_handler_config"])
		if err != nil {
			return fmt.Errorf("http_handler_config: %w", err)
		}
		p.HTTPHandler = cfg
	default:
		return fmt.Errorf("unknown handler_type %q (want script or http)", p.HandlerType)
	}
	return nil
}

// unknownParams lists, sorted and quoted, the keys of def that are neither
// common nor in allowed.
func unknownParams(def map[string]any, allowed []string) []string {
	ok := make(map[string]bool, len(commonParams)+len(allowed))
	for _, k := range commonParams {
		ok[k] = true
	}
	for _, k := range allowed {
		ok[k] = true
	}
	var out []string
	for k := range def {
		if !ok[k] {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	slices.Sort(out)
	return out
}

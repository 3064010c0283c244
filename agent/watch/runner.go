package watch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/hashicorp/consul/api"
	consulwatch "github.com/hashicorp/consul/api/watch"

	"github.com/meridian-io/meridian/internal/logging"
)

// Runner runs the watches of an agent's configuration, each in a
// goroutine of its own, against the agent's HTTP API. Plans of the
// official client run once, so a reload builds a new Runner.
type Runner struct {
	addr      string
	log       *slog.Logger
	defs      []*Definition
	transport *http.Transport // shared by the watches' clients

	mu      sync.Mutex
	cancel  context.CancelFunc // set by Start
	stopped bool
	wg      sync.WaitGroup
}

// NewRunner parses the watch definitions; each must have a handler (args,
// the deprecated handler, or handler_type "http"). httpAddr is an address
// at which the agent's HTTP API can be reached (host:port or an http(s)
// URL), not a wildcard bind address. It starts nothing.
func NewRunner(defs []map[string]any, httpAddr string, logger *slog.Logger) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := ParseAddr(httpAddr); err != nil {
		return nil, fmt.Errorf("watches: %w", err)
	}
	r := &Runner{addr: httpAddr, log: logger, transport: api.DefaultConfig().Transport}
	for i, def := range defs {
		d, err := Parse(def)
		if err != nil {
			return nil, fmt.Errorf("watches[%d]: %w", i, err)
		}
		if d.HandlerType == "" {
			return nil, fmt.Errorf("watches[%d]: %w: a %s watch needs a handler (\"args\", or handler_type \"http\" with \"http_handler_config\")", i, ErrInvalid, d.Plan.Type)
		}
		r.defs = append(r.defs, d)
	}
	return r, nil
}

// Len is the number of watches.
func (r *Runner) Len() int { return len(r.defs) }

// Start starts every watch. It does nothing after the first call or after
// Stop.
func (r *Runner) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil || r.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for i, d := range r.defs {
		log := r.log.With("watch", i, "type", d.Plan.Type)
		client, err := newClient(r.addr, d.Plan.Datacenter, d.Plan.Token, r.transport)
		if err != nil { // NewRunner checked the address: not expected
			log.Error("watch not started", "error", err)
			continue
		}
		d.Plan.Handler = r.handler(ctx, d, log)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := d.Plan.RunWithClientAndHclog(client, logging.HCLog(log, "")); err != nil {
				log.Error("watch stopped", "error", err)
			}
		}()
	}
	r.log.Debug("watches started", "count", len(r.defs))
}

// Stop stops every watch, terminating handlers in progress, and waits for
// them. It may be called more than once, and before Start.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	for _, d := range r.defs {
		d.Plan.Stop() // ends the blocking query at once
	}
	if cancel != nil {
		cancel() // terminates the handlers in progress
	}
	r.wg.Wait()
	r.transport.CloseIdleConnections()
}

func (r *Runner) handler(ctx context.Context, d *Definition, log *slog.Logger) consulwatch.HandlerFunc {
	if d.HandlerType == HandlerHTTP {
		return HTTPHandler(ctx, *d.HTTP, log)
	}
	return ScriptHandler(ctx, d.Args, log)
}

func newClient(addr, dc, token string, transport *http.Transport) (*api.Client, error) {
	cfg, err := Config(addr, dc, token, transport)
	if err != nil {
		return nil, err
	}
	return api.NewClient(cfg)
}

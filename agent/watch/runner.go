package watch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// Runner runs the watches of an agent's configuration, each in a
// goroutine of its own, against the agent's HTTP API.
type Runner struct {
	addr    string
	log     *slog.Logger
	plans   []*Plan
	mu      sync.Mutex
	cancel  context.CancelFunc // set by Start
	stopped bool
	wg      sync.WaitGroup
}

// NewRunner parses the watch definitions; each must have a handler (args,
// the deprecated handler, or handler_type "http"). httpAddr is an address
// at which the agent's HTTP API can be reached (host:port or a URL), not a
// wildcard bind address. It starts nothing.
func NewRunner(defs []map[string]any, httpAddr string, logger *slog.Logger) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := ParseAddr(httpAddr); err != nil {
		return nil, fmt.Errorf("watches: %w", err)
	}
	r := &Runner{addr: httpAddr, log: logger}
	for i, def := range defs {
		p, err := Parse(def)
		if err != nil {
			return nil, fmt.Errorf("watches[%d]: %w", i, err)
		}
		if p.HandlerType == "" {
			return nil, fmt.Errorf("watches[%d]: %w: a %s watch needs a handler (\"args\", or handler_type \"http\" with \"http_handler_config\")", i, ErrInvalid, p.Type)
		}
		p.Logger = logger.With("watch", i, "type", p.Type)
		r.plans = append(r.plans, p)
	}
	return r, nil
}

// Len is the number of watches.
func (r *Runner) Len() int { return len(r.plans) }

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
	for _, p := range r.plans {
		handler := r.handler(ctx, p)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := p.Run(ctx, r.addr, handler); err != nil {
				p.Logger.Error("watch stopped", "error", err)
			}
		}()
	}
	r.log.Debug("watches started", "count", len(r.plans))
}

// Stop stops every watch, terminating handlers in progress, and waits for
// them. It may be called more than once, and before Start.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

func (r *Runner) handler(ctx context.Context, p *Plan) HandlerFunc {
	if p.HandlerType == HandlerHTTP {
		return HTTPHandler(ctx, *p.HTTPHandler, p.Logger)
	}
	return ScriptHandler(ctx, p.Args, p.Logger)
}

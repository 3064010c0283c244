package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/meridian-io/meridian/agent/watch"
	"github.com/meridian-io/meridian/internal/logging"
)

const watchHelp = `Usage: meridian watch -type=TYPE [options] [HANDLER...]

  Watches a view of the data (a key, a key prefix, the services, the nodes,
  the instances of a service, health checks, or user events) with blocking
  queries, until interrupted. Without HANDLER, every new result is printed
  as JSON (with -once, only the current one, as 'consul watch' does). With
  HANDLER, it runs for every new result with the JSON on its stdin and
  CONSUL_INDEX (and MERIDIAN_INDEX) in its environment; a single argument
  containing spaces or shell syntax runs with $SHELL -c (see -shell). A
  failing handler stops the watch with exit code 1.

      $ meridian watch -type=key -key=config/maxconns
      $ meridian watch -type=service -service=web -passingonly ./reload.sh
      $ meridian watch -type=keyprefix -prefix=app/ 'cat >> /tmp/app.log'

  Types and their options:
    key        -key (required)
    keyprefix  -prefix (required)
    services   -filter
    nodes      -filter
    service    -service (required), -tag (repeatable), -passingonly, -filter
    checks     -service or -state (any, passing, warning, critical), -filter
    event      -name`

// stringList collects a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type watchOptions struct {
	http        httpFlags
	typ         string
	key         string
	prefix      string
	service     string
	tags        stringList
	passingOnly bool
	state       string
	name        string
	filter      string
	shell       bool
	once        bool
}

func runWatch(e *cmdEnv, args []string) int {
	var o watchOptions
	fs := e.newFlagSet("watch")
	o.http.register(fs, true)
	fs.StringVar(&o.typ, "type", "", "What to watch: key, keyprefix, services, nodes, service, checks or event.")
	fs.StringVar(&o.key, "key", "", "Key to watch (type key).")
	fs.StringVar(&o.prefix, "prefix", "", "Key prefix to watch (type keyprefix).")
	fs.StringVar(&o.service, "service", "", "Service to watch (types service and checks).")
	fs.Var(&o.tags, "tag", "Service tag to filter on (type service); repeat for several, all must match.")
	fs.BoolVar(&o.passingOnly, "passingonly", false, "Only instances whose checks all pass (type service).")
	fs.StringVar(&o.state, "state", "", "Check state to watch (type checks): any, passing, warning or critical.")
	fs.StringVar(&o.name, "name", "", "Event name to watch (type event).")
	fs.StringVar(&o.filter, "filter", "", "Filter expression applied by the agent (types services, nodes, service, checks).")
	fs.BoolVar(&o.once, "once", false, "Without HANDLER: print the current result once and exit, as 'consul watch' does.")
	fs.BoolVar(&o.shell, "shell", true, "Run a single HANDLER argument containing spaces or shell syntax with $SHELL -c (default /bin/sh).")
	if code, ok := e.parse(fs, watchHelp, args); !ok {
		return code
	}
	if o.typ == "" {
		return e.usageError("watch", "Watch type must be specified")
	}
	if o.once && fs.NArg() > 0 {
		return e.usageError("watch", "-once prints the result; it takes no HANDLER")
	}
	def, err := watch.Parse(o.definition(fs))
	if err != nil {
		return e.usageError("watch", "%v", err)
	}
	client, err := o.http.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	// Like Consul: make sure an agent answers before watching in silence.
	if _, err := client.Agent().Self(); err != nil {
		return e.fail(exitError, "Error querying agent: %v", err)
	}

	stdout, stderr := &lockedWriter{w: e.stdout}, &lockedWriter{w: e.stderr}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stopSignals := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	plan := def.Plan
	code := exitOK
	if fs.NArg() == 0 {
		plan.Handler = func(_ uint64, result any) {
			out, err := json.MarshalIndent(result, "", "    ")
			if err != nil {
				code = e.fail(exitError, "Error encoding output: %v", err)
				plan.Stop()
				return
			}
			fmt.Fprintf(stdout, "%s\n", out)
			if o.once {
				plan.Stop()
			}
		}
	} else {
		argv := childCommand(fs.Args(), o.shell, e.getenv)
		plan.Handler = func(index uint64, result any) {
			err := watch.RunScript(ctx, argv, index, result, stdout, stderr)
			if err != nil && ctx.Err() == nil {
				code = exitError
				fmt.Fprintln(stderr, oneLine("Error executing handler: "+err.Error()))
				plan.Stop()
			}
		}
	}
	// A signal stops the plan: its blocking query ends at once.
	runDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			plan.Stop()
		case <-runDone:
		}
	}()
	err = plan.RunWithClientAndHclog(client.Client, logging.HCLog(logger, ""))
	close(runDone)
	wg.Wait()
	if err != nil {
		return e.fail(exitError, "Error! %v", err)
	}
	return code // Run has returned: the handler is no longer running
}

// definition is the watch definition the flags describe, in the shape of
// the agent's `watches` configuration; only flags given are set, so the
// parser rejects options the type does not take. The datacenter and the
// token are the client's.
func (o *watchOptions) definition(fs *flag.FlagSet) map[string]any {
	def := map[string]any{"type": o.typ}
	set := func(flagName, key string, v any) {
		if flagWasSet(fs, flagName) {
			def[key] = v
		}
	}
	set("key", "key", o.key)
	set("prefix", "prefix", o.prefix)
	set("service", "service", o.service)
	set("passingonly", "passingonly", o.passingOnly)
	set("state", "state", o.state)
	set("name", "name", o.name)
	set("filter", "filter", o.filter)
	if len(o.tags) > 0 {
		def["tag"] = []string(o.tags)
	}
	if o.http.stale {
		def["stale"] = true
	}
	return def
}

// lockedWriter serializes writes to w: the watch loop's log, handler
// output and child processes share the command's streams.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

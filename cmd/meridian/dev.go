package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meridian-io/meridian/agent"
	"github.com/meridian-io/meridian/internal/logging"
)

const devHelp = `
Usage: meridian dev [options]

  Runs a local federation in this one process: datacenters dc1..dcN on
  127.0.0.1, each with its own servers (a Raft quorum) and client agents,
  whose servers share one WAN pool. Once every server routes to every
  datacenter it prints each datacenter's HTTP and DNS addresses (its first
  client agent's), one line each:

      dc1  http://127.0.0.1:21500  dns 127.0.0.1:21504

  Point a client at one (meridian kv get -http-addr=..., MERIDIAN_HTTP_ADDR
  or CONSUL_HTTP_ADDR, the Consul Go client) and name another datacenter
  with ?dc=dc2 (-datacenter=dc2 in the CLI). Data lives in a
  temporary directory removed at exit. Ctrl-C or SIGTERM stops every agent
  (within 5 seconds); a second signal exits at once.
`

// devStartTimeout bounds the wait for leaders and WAN routes at start.
const devStartTimeout = 60 * time.Second

// devStopTimeout is how long the agents have to stop after a signal
// before the process exits without them.
const devStopTimeout = 5 * time.Second

func runDev(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("dev")
	dcs := fs.Int("datacenters", 2, "number of datacenters, dc1..dcN")
	servers := fs.Int("servers", 3, "servers per datacenter")
	clients := fs.Int("clients", 1, "client agents per datacenter")
	basePort := fs.Int("base-port", 0, "first of the consecutive ports used (5 per agent); 0 picks free ports")
	logLevel := fs.String("log-level", "error", "log level of every agent (trace, debug, info, warn, error)")
	if code, ok := e.parse(fs, devHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("dev", "unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *dcs < 1 || *dcs > 64:
		return e.usageError("dev", "-datacenters %d: want 1 to 64", *dcs)
	case *servers < 1 || *servers > 7:
		return e.usageError("dev", "-servers %d: want 1 to 7", *servers)
	case *clients < 0 || *clients > 16:
		return e.usageError("dev", "-clients %d: want 0 to 16", *clients)
	case *basePort < 0 || *basePort > 65535:
		return e.usageError("dev", "-base-port %d: want 0 to 65535", *basePort)
	}
	logger, err := logging.New(*logLevel, false, e.stderr)
	if err != nil {
		return e.usageError("dev", "%v", err)
	}
	agent.Version, agent.Revision = version, revision
	dir, err := os.MkdirTemp("", "meridian-dev-")
	if err != nil {
		fmt.Fprintf(e.stderr, "dev: %v\n", err)
		return exitError
	}
	defer os.RemoveAll(dir)

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := agent.StartDevFederation(ctx, agent.DevFederationConfig{
		Datacenters: *dcs, Servers: *servers, Clients: *clients,
		Dir: dir, BasePort: *basePort, Logger: logger,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "dev: %v\n", err)
		return exitError
	}
	fmt.Fprintf(e.stderr, "dev: starting %d datacenters of %d servers and %d client agents in %s\n", *dcs, *servers, *clients, dir)

	// Wait until every server routes to every datacenter, or a signal.
	readyCtx, readyCancel := context.WithTimeout(ctx, devStartTimeout)
	ready := make(chan error, 1)
	go func() { ready <- f.WaitReady(readyCtx) }()
	select {
	case err = <-ready:
		readyCancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "dev: %v\n", err)
			stopDev(f, signals, e)
			return exitError
		}
	case sig := <-signals:
		readyCancel()
		<-ready
		fmt.Fprintf(e.stderr, "dev: caught %s while starting, stopping\n", sig)
		return stopDev(f, signals, e)
	}
	for _, d := range f.DCs {
		fmt.Fprintf(e.stdout, "%s  http://%s  dns %s\n", d.Name, d.Entry().HTTPAddr(), d.Entry().DNSAddr())
	}
	fmt.Fprintf(e.stderr, "dev: federation of %d datacenters is up; Ctrl-C stops it\n", *dcs)
	sig := <-signals
	fmt.Fprintf(e.stderr, "dev: caught %s, stopping every agent\n", sig)
	return stopDev(f, signals, e)
}

// stopDev shuts the federation down; a second signal, or agents still
// running after devStopTimeout, end the wait at once with exit code 1.
func stopDev(f *agent.DevFederation, signals <-chan os.Signal, e *cmdEnv) int {
	done := make(chan error, 1)
	go func() { done <- f.Shutdown() }()
	timer := time.NewTimer(devStopTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(e.stderr, "dev: shutdown: %v\n", err)
			return exitError
		}
		return exitOK
	case sig := <-signals:
		fmt.Fprintf(e.stderr, "dev: caught %s again, exiting at once\n", sig)
	case <-timer.C:
		fmt.Fprintf(e.stderr, "dev: agents still stopping after %s, exiting without them\n", devStopTimeout)
	}
	return exitError
}

package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meridian-io/meridian/agent/config"
	dnssrv "github.com/meridian-io/meridian/agent/dns"
	"github.com/meridian-io/meridian/agent/watch"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/telemetry"
	"github.com/meridian-io/meridian/internal/tlsconf"
	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/wan"
)

// Version is the build version, set by the linker in release builds;
// Revision the git commit it was built from ("" when unknown).
var (
	Version  = "0.1.0-dev"
	Revision = ""
)

// Agent is one running Meridian agent.
type Agent struct {
	cfg *config.Config
	// loaded is the configuration as loaded, before -secure filled in its
	// generated material: what Reload compares a reloaded one with.
	loaded *config.Config
	log    *slog.Logger
	// base is the logger handed to components, which add node and dc
	// themselves.
	base *slog.Logger

	lan    *lan.Pool
	wan    *wan.Pool // servers only; nil when the WAN port is disabled
	pool   *rpc.Pool
	server *dc.Server // nil on client agents
	rpcSrv *rpc.Server
	mux    *rpc.Mux
	// tls serves the certificates of the tls block (tls.go); secureNotes
	// tell where -secure put its material.
	tls         *tlsconf.Configurator
	secureNotes []string
	backend     Backend
	// resolver turns tokens into authorizers (acl.go); routeAuths is the
	// classification of every route the router registered.
	resolver   tokenResolver
	routeAuths map[string]routeAuth
	// encoded shares the JSON of large service reads (server agents).
	encoded encodedAnswers
	tune    func(*dc.Config)
	// Seams for fault-injection tests; nil means the real network and disk.
	dial            func(ctx context.Context, addr string) (net.Conn, error)
	gossipTransport func(bindAddr string, port int) (memberlist.NodeAwareTransport, error)
	wrapLogStore    func(dc.LogStore) dc.LogStore
	tuneHealth      func(*health.Config)
	coordSyncMin    time.Duration
	events          *eventBuffer
	// monitors feeds /v1/agent/monitor (http_monitor.go).
	monitors *logging.Monitors
	metrics  *agentMetrics

	// allDCTokens and allDCTimeout serve ?dc=* reads (http_alldc.go).
	allDCTokens  *allDCTokens
	allDCTimeout time.Duration

	// tokens are the agent's own ACL tokens (acl_tokens.go).
	tokens *agentTokens

	// local holds the services and checks of this host.
	local *health.Local
	// configServices and configChecks are the IDs that came from config
	// files, replaced on reload.
	// configMu guards them. Checks of config files' services count as
	// the config's.
	configServices map[string]bool
	configChecks   map[string]bool
	configMu       sync.Mutex
	// persist keeps what the API registered in the data directory
	// (local_persist.go).
	persist  *localPersist
	reloadMu sync.Mutex
	// watches run the config file's watch handlers.
	watches *watch.Runner

	httpSrv *http.Server
	parker  *parker // blocking reads waiting off net/http (http_park.go)
	httpLn  net.Listener
	httpsLn net.Listener
	// httpConns holds each HTTP listener's per-client connection count.
	httpConns []*connLimitListener
	// httpHeaderTimeout and httpReadTimeout bound the read of a request's
	// headers and of the whole request (newHTTPServer).
	httpHeaderTimeout, httpReadTimeout time.Duration
	// clk times the request rate limits.
	clk clock.Clock
	// limiter applies limits.request_limits (set by router).
	limiter *rateLimiter
	dnsSrv  *dnssrv.Server
	rpcLn   net.Listener

	// exitCh is closed when the agent asks its process to exit (after a
	// leave through the API).
	exitCh   chan struct{}
	exitOnce sync.Once
	// exitErr is why the agent asked to exit when it was not asked to
	// (the server stopped applying the log); nil after a leave.
	exitErr atomic.Pointer[error]

	// ctx is the parent of every HTTP request's context; canceling it at
	// shutdown ends blocked queries at once.
	ctx    context.Context
	cancel context.CancelFunc

	shutdownOnce sync.Once
	wg           sync.WaitGroup
}

// Option adjusts an agent beyond its configuration file.
type Option func(*Agent)

// WithServerTuning lets a caller (benchmarks, fault tests) adjust the
// datacenter server's configuration after the agent derived it.
func WithServerTuning(fn func(*dc.Config)) Option {
	return func(a *Agent) { a.tune = fn }
}

// WithDialer replaces how the agent dials other servers (RPC and Raft):
// fault-injection tests pass a dialer that can cut links.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(a *Agent) { a.dial = dial }
}

// WithGossipTransport replaces the LAN pool's memberlist transport; it is
// called with the gossip bind address and port.
func WithGossipTransport(fn func(bindAddr string, port int) (memberlist.NodeAwareTransport, error)) Option {
	return func(a *Agent) { a.gossipTransport = fn }
}

// WithRaftLogStore wraps the server's Raft log store (slow-disk tests).
func WithRaftLogStore(wrap func(dc.LogStore) dc.LogStore) Option {
	return func(a *Agent) { a.wrapLogStore = wrap }
}

// WithHealthTuning adjusts the health subsystem's configuration (tests
// shorten the anti-entropy interval).
func WithHealthTuning(fn func(*health.Config)) Option {
	return func(a *Agent) { a.tuneHealth = fn }
}

// New builds an agent from a loaded configuration. It starts nothing.
func New(cfg *config.Config, logger *slog.Logger, opts ...Option) (*Agent, error) {
	if cfg == nil {
		return nil, errors.New("agent: no configuration")
	}
	if logger == nil {
		logger = logging.Discard()
	}
	// Every record also goes to the /v1/agent/monitor streams, at their
	// own levels.
	monitors := logging.NewMonitors()
	logger = slog.New(logging.Fanout(logger.Handler(), monitors.Handler()))
	if cfg.Server && cfg.Ports.Server == config.PortDisabled {
		return nil, errors.New("agent: a server needs its server port")
	}
	var tokenFile string
	if cfg.ACL.EnableTokenPersistence && cfg.DataDir != "" {
		tokenFile = filepath.Join(cfg.DataDir, tokensFile)
	}
	tokens, err := loadAgentTokens(cfg.ACL.Tokens, tokenFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		cfg:    cfg.Clone(),
		loaded: cfg.Clone(),
		log:    logger.With("node", cfg.NodeName, "dc", cfg.Datacenter),
		base:   logger,
		exitCh: make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
		events: newEventBuffer(),
		clk:    clock.Real(),
		tokens: tokens,

		httpHeaderTimeout: httpHeaderTimeout,
		httpReadTimeout:   httpReadTimeout,

		monitors: monitors,

		allDCTokens:  newAllDCTokens(uint64(time.Now().UnixMicro()), allDCTokenLimit),
		allDCTimeout: defaultAllDCTimeout,

		configServices: map[string]bool{},
		configChecks:   map[string]bool{},
		persist:        newLocalPersist(cfg.DataDir),
	}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Start brings the agent up: RPC listener and Raft (servers), LAN gossip,
// joins, and the HTTP API. On error everything started is stopped; the
// error wraps ErrShutdownIncomplete too if that stop gave up on a step.
// Canceling ctx stops a -join attempt that is still waiting.
func (a *Agent) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			if serr := a.Shutdown(); errors.Is(serr, ErrShutdownIncomplete) {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := a.startTLS(); err != nil {
		return err
	}
	if a.metrics == nil {
		a.metrics = newAgentMetrics(a)
	}
	telemetry.Attach(a.metrics.sink, telemetry.AgentID(a.cfg.Datacenter, a.cfg.NodeName), a.cfg.Server)
	a.pool = rpc.NewPool(rpc.PoolConfig{Logger: a.log, Dial: a.dial, TLS: a.outgoingRPCTLS})
	rpcPort := 0
	if a.cfg.Server {
		if rpcPort, err = a.listenRPC(); err != nil {
			return err
		}
	}
	if err := a.startLAN(ctx, rpcPort); err != nil {
		return err
	}
	if err := a.startWAN(ctx, rpcPort); err != nil {
		return err
	}
	if a.cfg.Server {
		if err := a.startServer(ctx, rpcPort); err != nil {
			return err
		}
		a.backend = a.server
	} else {
		a.backend = &serverBackend{pool: a.pool, lan: a.lan}
	}
	a.resolver = a.newResolver()
	a.onLANEvents(a.receiveUserEvent)
	a.startCoordinateSync()
	if err := a.startLocal(); err != nil {
		return err
	}
	if err := a.join(ctx); err != nil {
		return err
	}
	if err := a.joinWAN(ctx); err != nil {
		return err
	}
	if a.cfg.Ports.HTTP != config.PortDisabled || a.cfg.Ports.HTTPS != config.PortDisabled {
		if err := a.startHTTP(); err != nil {
			return err
		}
	}
	if a.cfg.Ports.DNS != config.PortDisabled {
		if err := a.startDNS(); err != nil {
			return err
		}
	}
	if err := a.startWatches(a.cfg); err != nil {
		return err
	}
	a.metrics.pushGauges(a, gaugePushInterval)
	a.log.Info("agent started", "server", a.cfg.Server, "http", a.HTTPAddr(), "https", a.HTTPSAddr(), "dns", a.DNSAddr(), "lan", a.LANAddr())
	for _, n := range a.secureNotes {
		a.log.Info(n)
	}
	for _, w := range a.securityWarnings() {
		a.log.Warn(w)
	}
	return nil
}

func (a *Agent) listenRPC() (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(a.cfg.Ports.Server)))
	if err != nil {
		return 0, fmt.Errorf("agent: server port: %w", err)
	}
	a.rpcLn = ln
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (a *Agent) startLAN(ctx context.Context, rpcPort int) error {
	lc := lan.DefaultConfig()
	lc.NodeName, lc.NodeID, lc.Datacenter = a.cfg.NodeName, a.cfg.NodeID, a.cfg.Datacenter
	lc.BindAddr, lc.AdvertiseAddr = a.cfg.BindAddr, a.cfg.AdvertiseAddr
	lc.BindPort, lc.AdvertisePort = a.cfg.Ports.SerfLAN, a.cfg.Ports.SerfLAN
	lc.Version = Version
	lc.Logger = a.base
	lc.RejoinAfterLeave = a.cfg.RejoinAfterLeave
	if a.cfg.ReconnectTimeout > 0 {
		lc.ReconnectTimeout = a.cfg.ReconnectTimeout
	}
	if a.cfg.Dev || isLoopback(a.cfg.AdvertiseAddr) {
		lc.Profile = lan.ProfileLocal
	}
	if a.cfg.DataDir != "" {
		dir := filepath.Join(a.cfg.DataDir, "serf")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		lc.SnapshotPath = filepath.Join(dir, "local.snapshot")
		if !a.cfg.DisableKeyringFile {
			lc.KeyringFile = filepath.Join(dir, "local.keyring")
		}
	}
	if a.cfg.Server {
		lc.Role = lan.RoleServer
		lc.RPCPort = rpcPort
		lc.BootstrapExpect = a.cfg.BootstrapExpect
		lc.Bootstrap = a.cfg.Bootstrap
	}
	if a.cfg.Encrypt != "" {
		key, err := decodeKey(a.cfg.Encrypt)
		if err != nil {
			return err
		}
		lc.EncryptKey = key
	}
	if a.gossipTransport != nil {
		t, err := a.gossipTransport(a.cfg.BindAddr, a.cfg.Ports.SerfLAN)
		if err != nil {
			return fmt.Errorf("agent: gossip transport: %w", err)
		}
		lc.Transport = t
	}
	pool, err := lan.New(lc)
	if err != nil {
		return err
	}
	a.lan = pool
	return pool.Start(ctx)
}

// raftProfile is the datacenter server's profile: the LAN one (the dev
// one for a dev agent) with its Raft timeouts scaled by
// performance.raft_multiplier, as Consul scales its own.
func (a *Agent) raftProfile() dc.Config {
	c := dc.LANProfile()
	if a.cfg.Dev {
		c = dc.DevProfile()
	}
	if m := time.Duration(a.cfg.Limits.RaftMultiplier); m > 1 {
		c.HeartbeatTimeout *= m
		c.ElectionTimeout *= m
		c.LeaderLeaseTimeout *= m
	}
	return c
}

func (a *Agent) startServer(ctx context.Context, rpcPort int) error {
	advertise := net.JoinHostPort(a.cfg.AdvertiseAddr, strconv.Itoa(rpcPort))
	tcpAddr, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return fmt.Errorf("agent: advertise address: %w", err)
	}
	a.rpcSrv = rpc.NewServer(rpc.ServerConfig{Logger: a.log, Authorize: a.authorizeRPC})
	muxOpts := []rpc.MuxOption{rpc.WithAdvertiseAddr(tcpAddr), rpc.WithTLS(a.tls, a.outgoingRPCTLS)}
	if a.dial != nil {
		muxOpts = append(muxOpts, rpc.WithRaftDial(a.dial))
	}
	a.mux = rpc.NewMux(a.rpcLn, a.log, muxOpts...)
	a.mux.HandleRPC(a.rpcSrv.ServeConn)
	dcfg := a.raftProfile()
	dcfg.NodeName, dcfg.NodeID, dcfg.Datacenter = a.cfg.NodeName, a.cfg.NodeID, a.cfg.Datacenter
	dcfg.DataDir = a.cfg.DataDir
	dcfg.Bootstrap, dcfg.BootstrapExpect = a.cfg.Bootstrap, a.cfg.BootstrapExpect
	dcfg.RPCAddr = advertise
	dcfg.Version = Version
	dcfg.Logger = a.base
	dcfg.ACL = dc.ACLConfig{
		Enabled:           a.cfg.ACL.Enabled,
		DefaultAllow:      a.cfg.ACL.DefaultPolicy != "deny",
		InitialManagement: a.cfg.ACL.Tokens.InitialManagement,
		PrimaryDatacenter: a.cfg.PrimaryDatacenter,
		ReplicationToken:  a.cfg.ACL.Tokens.Replication,
		DownPolicy:        a.cfg.ACL.DownPolicy,
	}
	ap := a.cfg.Autopilot
	dcfg.Autopilot = dc.AutopilotConfig{
		CleanupDeadServers: ap.CleanupDeadServers, LastContactThreshold: ap.LastContactThreshold,
		MaxTrailingLogs: uint64(ap.MaxTrailingLogs), MinQuorum: uint(ap.MinQuorum),
		ServerStabilizationTime: ap.ServerStabilizationTime,
	}
	if a.cfg.Limits.RPCHoldTimeout > 0 {
		dcfg.RPCHoldTimeout = a.cfg.Limits.RPCHoldTimeout
	}
	if a.cfg.DefaultQueryTime > 0 {
		dcfg.DefaultQueryTime = a.cfg.DefaultQueryTime
	}
	if a.cfg.MaxQueryTime > 0 {
		dcfg.MaxQueryTime = a.cfg.MaxQueryTime
	}
	if a.cfg.SessionTTLMin > 0 {
		dcfg.SessionTTLMin = a.cfg.SessionTTLMin
	}
	if b := a.cfg.RaftLogStore.Backend; b != "" {
		dcfg.LogStoreBackend = b
	}
	dcfg.WALSegmentSize = a.cfg.RaftLogStore.WALSegmentSizeMB << 20
	if kr := a.cfg.KVReplication; kr.SourceDatacenter != "" {
		dcfg.KVReplication = dc.KVReplicationConfig{SourceDatacenter: kr.SourceDatacenter, Prefixes: kr.Prefixes, Exclude: kr.Exclude}
	}
	if a.tune != nil {
		a.tune(&dcfg)
	}
	deps := dc.Deps{RaftStream: a.mux.RaftLayer(), Pool: a.pool, Membership: lanMembership{pool: a.lan}, WrapLogStore: a.wrapLogStore}
	if a.wan != nil {
		deps.Router, deps.WAN = a.wan.Router(), a.wan
	}
	deps.Events = a
	deps.Keyring = a
	deps.Metrics = a.metrics.sink
	srv, err := dc.New(dcfg, deps)
	if err != nil {
		return err
	}
	a.server = srv
	srv.RegisterRPC(a.rpcSrv)
	srv.RegisterStreams(a.rpcSrv)
	// Raft must exist before the first connection is served: start it,
	// then accept (peers' connections wait in the listen backlog).
	if err := srv.Start(ctx); err != nil {
		return err
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.mux.Serve(); err != nil {
			a.log.Debug("rpc listener stopped", "error", err)
		}
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-srv.ApplyStopped():
			err := fmt.Errorf("server stopped applying the raft log: %w", srv.Store().Stopped())
			a.exitErr.CompareAndSwap(nil, &err)
			a.requestExit()
		case <-a.ctx.Done():
		}
	}()
	return nil
}

// join joins the LAN addresses of -join once and -retry-join until one
// answers. Failures are logged; the agent keeps running.
func (a *Agent) join(ctx context.Context) error {
	if len(a.cfg.StartJoin) > 0 {
		if err := a.joinOnce(ctx, "LAN", a.cfg.StartJoin, a.lan.Join); err != nil {
			return err
		}
	}
	if len(a.cfg.RetryJoin) > 0 {
		interval := a.cfg.RetryInterval
		if interval <= 0 {
			interval = 30 * time.Second
		}
		a.lan.RetryJoin(a.cfg.RetryJoin, interval, a.cfg.RetryMax)
	}
	return nil
}

// joinOnce runs join(addrs) (-join, -join-wan) and waits for it unless
// ctx ends first: the attempt may wait for a TCP timeout per address, and
// a signal while starting must not wait for it. The attempt then ends on
// its own, in a goroutine the agent waits for at shutdown.
func (a *Agent) joinOnce(ctx context.Context, pool string, addrs []string, join func([]string) (int, error)) error {
	done := make(chan struct{})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		if n, err := join(addrs); err != nil {
			a.log.Warn(pool+" join failed", "addrs", addrs, "error", err)
		} else {
			a.log.Info("joined the "+pool+" pool", "contacted", n)
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: %s join %v interrupted: %w", pool, addrs, ctx.Err())
	}
}

// HTTPAddr is where the HTTP API listens (the first address when it
// listens on several), "" if it does not.
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// LANAddr is the LAN gossip address other agents join.
func (a *Agent) LANAddr() string {
	if a.lan == nil {
		return ""
	}
	m := a.lan.LocalMember()
	return net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
}

// Server is the agent's datacenter server, nil on client agents.
func (a *Agent) Server() *dc.Server { return a.server }

// Config is a copy of the agent's configuration.
func (a *Agent) Config() *config.Config { return a.cfg.Clone() }

// ExitErr says why the agent closed ExitCh by itself, or nil when it did
// so after a leave: a non-nil error means the process should exit non-zero.
func (a *Agent) ExitErr() error {
	if p := a.exitErr.Load(); p != nil {
		return *p
	}
	return nil
}

// ExitCh is closed when the agent has left through the API and its process
// should exit.
func (a *Agent) ExitCh() <-chan struct{} { return a.exitCh }

// Leave leaves the cluster gracefully: a server first leaves Raft, then
// every agent leaves the LAN pool. Shutdown must still be called.
func (a *Agent) Leave(ctx context.Context) error {
	if a.lan == nil {
		return nil
	}
	if a.wan != nil {
		if err := a.wan.Leave(); err != nil {
			a.log.Warn("leaving the WAN pool failed", "error", err)
		}
	}
	if a.server != nil {
		return a.server.Leave(ctx, a.lan.Leave)
	}
	return a.lan.Leave()
}

func (a *Agent) requestExit() {
	a.exitOnce.Do(func() { close(a.exitCh) })
}

func isLoopback(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.IsLoopback()
}

// decodeKey decodes a gossip encryption key.
func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("agent: encrypt key is not base64: %w", err)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("agent: encrypt key has %d bytes, want 16, 24 or 32", len(key))
}

// NumLANMembers is the number of alive members of the LAN pool.
func (a *Agent) NumLANMembers() int {
	if a.lan == nil {
		return 0
	}
	n := 0
	for _, m := range a.lan.Members() {
		if m.Status == lan.StatusAlive {
			n++
		}
	}
	return n
}

// NumWANMembers is the number of alive members of the WAN pool (0 on
// agents without one).
func (a *Agent) NumWANMembers() int {
	if a.wan == nil {
		return 0
	}
	n := 0
	for _, m := range a.wan.Members() {
		if m.Status == wan.StatusAlive {
			n++
		}
	}
	return n
}

// startWatches runs the watch handlers of cfg (Consul's "watches" blocks)
// against this agent's own HTTP API.
func (a *Agent) startWatches(cfg *config.Config) error {
	if len(cfg.Watches) == 0 {
		return nil
	}
	if a.HTTPAddr() == "" {
		return errors.New("agent: watches need the HTTP API, which is disabled")
	}
	r, err := watch.NewRunner(cfg.Watches, a.HTTPAddr(), a.log.With("component", "watch"))
	if err != nil {
		return fmt.Errorf("agent: watches: %w", err)
	}
	r.Start()
	a.watches = r
	return nil
}

func (a *Agent) stopWatches() {
	if a.watches != nil {
		a.watches.Stop()
		a.watches = nil
	}
}

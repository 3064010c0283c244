package config

import (
	"maps"
	"slices"
	"time"
)

// Config is the agent's validated runtime configuration. Load returns it
// with every default applied and every address resolved; callers treat it
// as read-only and use Clone to derive a modified copy.
type Config struct {
	// Datacenter is the lowercased datacenter name, matching [a-z0-9_-]+.
	Datacenter string
	// NodeName is the node's name in the catalog; it defaults to the host name.
	NodeName string
	// NodeID is the node's lowercase UUID. Unless set explicitly it is read
	// from <DataDir>/node-id, or generated and written there; in dev mode it
	// is random and never written.
	NodeID string
	// DataDir holds raft and serf state. Required unless Dev.
	DataDir string
	// Server makes the agent a raft member of its datacenter.
	Server bool
	// Bootstrap makes a server elect itself without waiting for peers.
	Bootstrap bool
	// BootstrapExpect is the number of servers to wait for before
	// bootstrapping raft; 0 means not set.
	BootstrapExpect int
	// Dev is the in-memory single-server profile (see Load).
	Dev bool

	// BindAddr is the IP the server RPC and serf listeners bind to; it may
	// be the unspecified address (0.0.0.0 or ::).
	BindAddr string
	// AdvertiseAddr is the concrete IP other LAN members reach this agent
	// on; it defaults to BindAddr, or to the host's single private IPv4 when
	// BindAddr is unspecified.
	AdvertiseAddr string
	// AdvertiseAddrWAN is the IP advertised in the WAN pool; it defaults to
	// AdvertiseAddr.
	AdvertiseAddrWAN string
	// ClientAddr is the first of ClientAddrs.
	ClientAddr string
	// ClientAddrs are the IPs client_addr (-client) names: a
	// space-separated list, or a go-sockaddr template such as
	// "{{ GetPrivateIP }}" that resolves to one, as in Consul.
	ClientAddrs []string
	// HTTPAddrs and DNSAddrs are the IPs the HTTP API and DNS listen on,
	// each: addresses.http and addresses.dns (lists or templates like
	// client_addr), or ClientAddrs when unset.
	HTTPAddrs []string
	DNSAddrs  []string
	// HTTPSAddrs are the IPs the HTTPS API listens on: addresses.https, or
	// ClientAddrs when unset.
	HTTPSAddrs []string
	// Ports holds the listener ports; PortDisabled (-1) turns a listener off.
	Ports Ports

	// RetryJoin are LAN addresses joined at start and retried until success.
	RetryJoin []string
	// StartJoin are LAN addresses joined once at start (Consul's -join).
	StartJoin []string
	// RetryJoinWAN are WAN addresses a server joins at start, retried
	// every RetryIntervalWAN until one answers.
	RetryJoinWAN []string
	// StartJoinWAN are WAN addresses a server joins once at start
	// (-join-wan).
	StartJoinWAN []string
	// RetryIntervalWAN is the wait between WAN join attempts.
	RetryIntervalWAN time.Duration
	// RetryInterval is the wait between join attempts.
	RetryInterval time.Duration
	// RetryMax is the number of join attempts; 0 retries forever.
	RetryMax int
	// RejoinAfterLeave lets an agent that left rejoin its pools on restart.
	RejoinAfterLeave bool
	// LeaveOnTerminate makes SIGTERM leave the pools gracefully; it
	// defaults to true on clients and false on servers, as in Consul.
	LeaveOnTerminate bool
	// SkipLeaveOnInterrupt makes SIGINT skip the graceful leave; it
	// defaults to true on servers and false on clients, as in Consul.
	SkipLeaveOnInterrupt bool

	// LogLevel is one of trace, debug, info, warn, error.
	LogLevel string
	// LogJSON selects JSON log output.
	LogJSON bool
	// EnableSyslog sends the logs to the local syslog too (-syslog,
	// enable_syslog); without a reachable syslog the agent warns once and
	// logs to standard error only.
	EnableSyslog bool
	// SyslogFacility is the syslog facility, upper case (default LOCAL0).
	SyslogFacility string
	// LogFile, when set, is a file the logs are also written to (-log-file,
	// log_file); a path ending in "/" is a directory that gets
	// meridian.log. It rotates by LogRotateBytes (0: never by size) and
	// LogRotateDuration (0: never by age; default 24h), keeping
	// LogRotateMaxFiles rotated files (0 keeps all, -1 none).
	LogFile           string
	LogRotateBytes    int
	LogRotateDuration time.Duration
	LogRotateMaxFiles int
	// UI is Consul's ui / ui_config.enabled. Not acted on yet (there is no
	// web UI); Load warns when a source sets it.
	UI bool
	// UIDir, when set, is a directory served under /ui/ instead of the
	// built-in console (ui_dir, ui_config.dir, -ui-dir); setting it turns
	// the console on, as in Consul.
	UIDir string
	// PidFile is where the agent writes its process id; empty for none.
	PidFile string
	// Encrypt is the base64 gossip encryption key (16, 24 or 32 bytes once
	// decoded); empty for none.
	Encrypt string
	// DisableKeyringFile keeps the gossip keyring in memory only: no
	// serf/local.keyring (remote.keyring), and -encrypt applies at every
	// start.
	DisableKeyringFile bool

	// EnableDebug serves Go's runtime profiles under /debug/pprof/ on the
	// HTTP port (Consul's enable_debug; on with -dev).
	EnableDebug bool
	// EnableScriptChecks allows script checks from any source.
	EnableScriptChecks bool
	// EnableLocalScriptChecks allows script checks from config files only.
	EnableLocalScriptChecks bool
	// NodeMeta is the node's metadata (validated like Consul's).
	NodeMeta map[string]string
	// RaftProtocol is the raft protocol version (3).
	RaftProtocol int
	// Limits are the request size and rate limits.
	Limits Limits
	// DisableKVKeyValidation turns off the check that refuses, with a
	// 400, KV keys with a ".." path segment or a control character.
	DisableKVKeyValidation bool

	// DefaultQueryTime is the wait of a blocking query that names none.
	DefaultQueryTime time.Duration
	// MaxQueryTime caps the wait of a blocking query.
	MaxQueryTime time.Duration
	// CheckUpdateInterval is how long an unchanged check output may go
	// without being synced to the servers; 0 syncs every change.
	CheckUpdateInterval time.Duration
	// AEInterval is the period of the full anti-entropy sync.
	AEInterval time.Duration
	// SessionTTLMin is the smallest session TTL accepted.
	SessionTTLMin time.Duration
	// ReconnectTimeout is how long a failed LAN member is kept before it is
	// reaped (at least 8h, as in Consul).
	ReconnectTimeout time.Duration

	// Domain is the DNS domain served, fully qualified ("consul.").
	Domain string
	// Recursors are upstream DNS servers as "ip:port" (port 53 added when
	// absent) for names outside the domain.
	Recursors []string
	// AltDomain is a second domain answered like Domain; empty for none.
	AltDomain string
	// DNS is the dns_config block.
	DNS DNSConfig
	// ACL is the acl block.
	ACL ACLConfig
	// TLS is the tls block (and Consul's older top-level TLS keys).
	TLS TLSConfig
	// Secure is -secure: a local trial with ACLs (default deny), TLS and
	// gossip encryption on, their material generated in the data dir by
	// the agent at start.
	Secure bool
	// PrimaryDatacenter owns the ACL state (primary_datacenter); the
	// servers of every other datacenter replicate it. "" is this one.
	PrimaryDatacenter string
	// KVReplication is the kv_replication block (servers only).
	KVReplication KVReplication
	// Autopilot is the autopilot block (servers only).
	Autopilot Autopilot
	// RaftLogStore is the raft_logstore block (servers only).
	RaftLogStore RaftLogStore
	// Telemetry is the telemetry block.
	Telemetry Telemetry

	// Services are the service definitions from config files.
	Services []ServiceDefinition
	// Checks are the node or service check definitions from config files.
	Checks []CheckDefinition
	// Watches are the raw watch definitions, kept for a later watch package.
	Watches []map[string]any

	// ConfigFiles are the files read, in the order they were merged.
	ConfigFiles []string

	// addressesHTTP and addressesDNS are addresses.http and addresses.dns
	// as written, resolved into HTTPAddrs and DNSAddrs by Load.
	addressesHTTP, addressesDNS, addressesHTTPS string

	// args are the command-line arguments Load parsed, for Reload.
	args []string
	// loaded is true for a Config returned by Load or Reload.
	loaded bool
}

// PortDisabled turns a listener off when used as a port number.
const PortDisabled = -1

// Ports holds the agent's listener ports.
type Ports struct {
	HTTP    int // HTTP API on ClientAddr (8500)
	HTTPS   int // HTTPS API on ClientAddr (disabled; 8501 with -secure)
	DNS     int // DNS (8600); not opened yet, Load warns when it is set
	Server  int // server RPC and raft on BindAddr (8300)
	SerfLAN int // LAN gossip, UDP and TCP, on BindAddr (8301)
	SerfWAN int // WAN gossip of servers (8302)
}

// Request rate limit modes (limits.request_limits.mode), as Consul's.
const (
	// RateLimitDisabled applies no rate limit.
	RateLimitDisabled = "disabled"
	// RateLimitPermissive logs requests over the rate and serves them.
	RateLimitPermissive = "permissive"
	// RateLimitEnforcing refuses requests over the rate: reads 429,
	// writes 503.
	RateLimitEnforcing = "enforcing"
)

// RequestLimits are the HTTP API's request rate limits.
type RequestLimits struct {
	// Mode is RateLimitDisabled, RateLimitPermissive or RateLimitEnforcing.
	Mode string
	// ReadRate is the most reads (GET, HEAD) per second, with a burst of
	// as many; <= 0 is unlimited (Consul's -1).
	ReadRate float64
	// WriteRate is the most writes (any other method) per second; <= 0
	// is unlimited.
	WriteRate float64
}

// Limits are the agent's request limits.
type Limits struct {
	// KVMaxValueSize is the largest KV value in bytes.
	KVMaxValueSize int
	// TxnMaxReqLen is the largest transaction request body in bytes.
	TxnMaxReqLen int
	// TxnMaxOps is the most operations in one transaction.
	TxnMaxOps int
	// HTTPMaxConnsPerClient caps concurrent HTTP connections per client
	// IP; a connection beyond it is answered 429 and closed.
	HTTPMaxConnsPerClient int
	// RequestLimits rate-limit the HTTP API's reads and writes.
	RequestLimits RequestLimits
	// RPCHoldTimeout is how long an RPC waits out a leader election.
	RPCHoldTimeout time.Duration
	// RaftMultiplier scales a server's Raft timeouts (heartbeat,
	// election, leader lease), 1 to 10; Meridian's timings are Consul's
	// multiplier 1, the one Consul recommends for production servers.
	RaftMultiplier int
}

// ServiceDefinition is a service registered from a config file.
type ServiceDefinition struct {
	ID                string
	Name              string
	Tags              []string
	Address           string
	Port              int
	Meta              map[string]string
	EnableTagOverride bool
	// Weights is nil when the definition has none (the agent applies
	// Consul's default {Passing: 1, Warning: 1}).
	Weights *ServiceWeights
	// Checks holds the definition's "check" followed by its "checks".
	Checks []CheckDefinition
}

// ServiceWeights are the DNS SRV weights of a service by health.
type ServiceWeights struct {
	Passing int
	Warning int
}

// CheckDefinition is a health check defined in a config file, either
// top-level or inside a service definition.
type CheckDefinition struct {
	ID        string
	Name      string
	Notes     string
	ServiceID string

	HTTP          string
	Header        map[string][]string
	Method        string // upper-cased
	Body          string
	TLSSkipVerify bool
	TLSServerName string
	TCP           string
	TCPUseTLS     bool
	UDP           string
	GRPC          string
	GRPCUseTLS    bool
	// DisableRedirects makes an HTTP check judge a redirect itself.
	DisableRedirects bool
	// AliasService and AliasNode make an alias check.
	AliasService, AliasNode string
	// H2PING makes an H2PING check; H2PingUseTLS (true unless set false)
	// speaks TLS to it.
	H2PING       string
	H2PingUseTLS *bool
	Args         []string // script check command (args or script_args)
	TTL          time.Duration

	Interval time.Duration
	Timeout  time.Duration
	// Status is the initial status: "", passing, warning or critical.
	Status                         string
	SuccessBeforePassing           int
	FailuresBeforeCritical         int
	FailuresBeforeWarning          int
	DeregisterCriticalServiceAfter time.Duration
}

// DefaultConfig returns the defaults every loaded Config starts from. It
// resolves nothing: NodeName, NodeID and AdvertiseAddr are empty and
// DataDir is unset (Load fills or requires them).
func DefaultConfig() *Config {
	return &Config{
		Datacenter:          "dc1",
		BindAddr:            "0.0.0.0",
		ClientAddr:          "127.0.0.1",
		Ports:               Ports{HTTP: 8500, HTTPS: PortDisabled, DNS: 8600, Server: 8300, SerfLAN: 8301, SerfWAN: 8302},
		RetryInterval:       30 * time.Second,
		RetryIntervalWAN:    30 * time.Second,
		LogLevel:            "info",
		RaftProtocol:        3,
		Autopilot:           DefaultAutopilot(),
		Limits:              Limits{KVMaxValueSize: 512 * 1024, TxnMaxReqLen: 512 * 1024, TxnMaxOps: 128, HTTPMaxConnsPerClient: 200, RequestLimits: RequestLimits{Mode: RateLimitDisabled, ReadRate: -1, WriteRate: -1}, RPCHoldTimeout: 7 * time.Second, RaftMultiplier: 1},
		DefaultQueryTime:    300 * time.Second,
		MaxQueryTime:        600 * time.Second,
		CheckUpdateInterval: 5 * time.Minute,
		AEInterval:          time.Minute,
		SessionTTLMin:       10 * time.Second,
		ReconnectTimeout:    72 * time.Hour,
		Domain:              "consul.",
		DNS:                 defaultDNSConfig(),
		ACL:                 defaultACLConfig(),
		LeaveOnTerminate:    true, // client default; Load flips it for servers
		SyslogFacility:      "LOCAL0",
		LogRotateDuration:   24 * time.Hour,
		Telemetry:           Telemetry{MetricsPrefix: DefaultMetricsPrefix},
	}
}

// Clone returns a deep copy of c; nil for nil.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := *c
	out.RetryJoin = slices.Clone(c.RetryJoin)
	out.StartJoin = slices.Clone(c.StartJoin)
	out.ClientAddrs = slices.Clone(c.ClientAddrs)
	out.HTTPAddrs = slices.Clone(c.HTTPAddrs)
	out.DNSAddrs = slices.Clone(c.DNSAddrs)
	out.HTTPSAddrs = slices.Clone(c.HTTPSAddrs)
	out.TLS = c.TLS.clone()
	out.RetryJoinWAN = slices.Clone(c.RetryJoinWAN)
	out.StartJoinWAN = slices.Clone(c.StartJoinWAN)
	out.NodeMeta = maps.Clone(c.NodeMeta)
	out.Recursors = slices.Clone(c.Recursors)
	out.DNS = c.DNS.clone()
	out.KVReplication = c.KVReplication.clone()
	out.ConfigFiles = slices.Clone(c.ConfigFiles)
	out.args = slices.Clone(c.args)
	if c.Services != nil {
		out.Services = make([]ServiceDefinition, len(c.Services))
		for i := range c.Services {
			out.Services[i] = c.Services[i].clone()
		}
	}
	out.Checks = cloneChecks(c.Checks)
	if c.Watches != nil {
		out.Watches = make([]map[string]any, len(c.Watches))
		for i, w := range c.Watches {
			out.Watches[i] = cloneAny(w).(map[string]any)
		}
	}
	return &out
}

func (s ServiceDefinition) clone() ServiceDefinition {
	s.Tags = slices.Clone(s.Tags)
	s.Meta = maps.Clone(s.Meta)
	if s.Weights != nil {
		w := *s.Weights
		s.Weights = &w
	}
	s.Checks = cloneChecks(s.Checks)
	return s
}

func cloneChecks(in []CheckDefinition) []CheckDefinition {
	if in == nil {
		return nil
	}
	out := make([]CheckDefinition, len(in))
	for i, c := range in {
		c.Args = slices.Clone(c.Args)
		if c.Header != nil {
			h := make(map[string][]string, len(c.Header))
			for k, v := range c.Header {
				h[k] = slices.Clone(v)
			}
			c.Header = h
		}
		out[i] = c
	}
	return out
}

// cloneAny deep-copies the generic values a decoded config file holds.
func cloneAny(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneAny(e)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneAny(e)
		}
		return out
	default:
		return v
	}
}

package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Metadata limits, as Consul enforces them on node and service meta.
const (
	metaMaxPairs     = 64
	metaKeyMaxLen    = 128
	metaValueMaxLen  = 512
	metaReservedPfx  = "consul-"
	minReconnectTime = 8 * time.Hour
)

var (
	validDatacenter = regexp.MustCompile(`^[a-z0-9_-]+$`)
	validMetaKey    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	validDNSLabel   = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$`)
	validNodeName   = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
)

// ValidateMeta checks node or service metadata as Consul does; see
// validateMeta.
func ValidateMeta(meta map[string]string) error { return validateMeta(meta) }

// validateMeta checks metadata as Consul does (key <= 128 chars of
// [A-Za-z0-9_-] without the reserved "consul-" prefix, value <= 512 chars,
// at most 64 pairs).
func validateMeta(meta map[string]string) error {
	if len(meta) > metaMaxPairs {
		return fmt.Errorf("cannot contain more than %d key/value pairs", metaMaxPairs)
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		switch {
		case k == "":
			return fmt.Errorf("key cannot be blank")
		case len(k) > metaKeyMaxLen:
			return fmt.Errorf("key %.20q...: key is too long (limit: %d characters)", k, metaKeyMaxLen)
		case !validMetaKey.MatchString(k):
			return fmt.Errorf("key %q: key contains invalid characters", k)
		case strings.HasPrefix(k, metaReservedPfx):
			return fmt.Errorf("key %q: key prefix '%s' is reserved for internal use", k, metaReservedPfx)
		case len(meta[k]) > metaValueMaxLen:
			return fmt.Errorf("key %q: value is too long (limit: %d characters)", k, metaValueMaxLen)
		}
	}
	return nil
}

// normalize canonicalises the values Consul canonicalises.
func normalize(c *Config) {
	c.Datacenter = strings.ToLower(strings.TrimSpace(c.Datacenter))
	c.LogLevel = strings.ToLower(strings.TrimSpace(c.LogLevel))
	c.SyslogFacility = strings.ToUpper(strings.TrimSpace(c.SyslogFacility))
	if c.LogLevel == "err" {
		c.LogLevel = "error"
	}
	c.Domain = normalizeDomain(c.Domain)
	c.AltDomain = normalizeDomain(c.AltDomain)
	c.NodeName = strings.TrimSpace(c.NodeName)
	c.NodeID = strings.ToLower(strings.TrimSpace(c.NodeID))
}

// validate checks the values that need no I/O. Errors are one line and
// wrap ErrInvalid.
func validate(c *Config) error {
	for _, check := range []func(*Config) error{
		validateIdentity, validateRole, validatePorts, validateDurations,
		validateLimits, validateMisc, validateScriptChecks, validateSyslog,
		validateLogFile, validateTelemetry,
	} {
		if err := check(c); err != nil {
			return invalid(err)
		}
	}
	return nil
}

func validateIdentity(c *Config) error {
	switch {
	case c.Datacenter == "":
		return fmt.Errorf("datacenter cannot be empty")
	case !validDatacenter.MatchString(c.Datacenter):
		return fmt.Errorf("datacenter %q can only contain lowercase alphanumeric, - or _ characters", c.Datacenter)
	case c.DataDir == "" && !c.Dev:
		return fmt.Errorf("data_dir cannot be empty")
	}
	if c.DataDir != "" {
		if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
			return fmt.Errorf("data_dir %q is not a directory", c.DataDir)
		}
	}
	if c.NodeID != "" && !isUUID(c.NodeID) {
		return fmt.Errorf("node_id %q is not a valid UUID", c.NodeID)
	}
	if err := validateMeta(c.NodeMeta); err != nil {
		return fmt.Errorf("node_meta invalid: %w", err)
	}
	return nil
}

func validateRole(c *Config) error {
	switch {
	case c.BootstrapExpect < 0:
		return fmt.Errorf("bootstrap_expect cannot be negative")
	case c.BootstrapExpect > 0 && c.Dev:
		return fmt.Errorf("'bootstrap_expect > 0' not allowed in dev mode")
	case c.BootstrapExpect > 0 && c.Bootstrap:
		return fmt.Errorf("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive")
	case c.BootstrapExpect > 0 && !c.Server:
		return fmt.Errorf("'bootstrap_expect > 0' requires 'server = true'")
	case c.Bootstrap && !c.Server:
		return fmt.Errorf("'bootstrap = true' requires 'server = true'")
	case c.RaftProtocol != 3:
		return fmt.Errorf("raft_protocol %d is not supported (only 3)", c.RaftProtocol)
	}
	return nil
}

func validatePorts(c *Config) error {
	// opened is false for a port no listener uses (the WAN port of a
	// client): it is range-checked but cannot collide.
	ports := []struct {
		name   string
		port   int
		opened bool
	}{
		{"ports.http", c.Ports.HTTP, true}, {"ports.https", c.Ports.HTTPS, true}, {"ports.dns", c.Ports.DNS, true}, {"ports.server", c.Ports.Server, true},
		{"ports.serf_lan", c.Ports.SerfLAN, true}, {"ports.serf_wan", c.Ports.SerfWAN, c.Server},
	}
	used := map[int]string{}
	for _, p := range ports {
		if p.port == PortDisabled {
			continue
		}
		if p.port < 1 || p.port > 65535 {
			return fmt.Errorf("%s: invalid port %d (must be 1-65535, or -1 to disable)", p.name, p.port)
		}
		if !p.opened {
			continue
		}
		if other, ok := used[p.port]; ok {
			return fmt.Errorf("%s and %s both use port %d", other, p.name, p.port)
		}
		used[p.port] = p.name
	}
	switch {
	case c.Ports.SerfLAN == PortDisabled:
		return fmt.Errorf("ports.serf_lan cannot be disabled: every agent joins the LAN pool")
	case c.Server && c.Ports.Server == PortDisabled:
		return fmt.Errorf("ports.server cannot be disabled on a server")
	}
	return nil
}

func validateDurations(c *Config) error {
	for _, d := range []struct {
		name    string
		v       time.Duration
		canZero bool
	}{
		{"retry_interval", c.RetryInterval, false},
		{"retry_interval_wan", c.RetryIntervalWAN, false},
		{"default_query_time", c.DefaultQueryTime, false},
		{"max_query_time", c.MaxQueryTime, false},
		{"check_update_interval", c.CheckUpdateInterval, true},
		{"session_ttl_min", c.SessionTTLMin, true},
		{"performance.rpc_hold_timeout", c.Limits.RPCHoldTimeout, false},
	} {
		switch {
		case d.v < 0 && d.canZero:
			return fmt.Errorf("%s must not be negative, got %s", d.name, d.v)
		case d.v <= 0 && !d.canZero:
			return fmt.Errorf("%s must be > 0, got %s", d.name, d.v)
		}
	}
	if c.ReconnectTimeout < minReconnectTime {
		return fmt.Errorf("reconnect_timeout must be >= %s, got %s", minReconnectTime, c.ReconnectTimeout)
	}
	if c.RetryMax < 0 {
		return fmt.Errorf("retry_max cannot be negative")
	}
	return nil
}

func validateLimits(c *Config) error {
	if m := c.Limits.RaftMultiplier; m < 1 || m > 10 {
		return fmt.Errorf("performance.raft_multiplier cannot be %d. Must be between 1 and 10", m)
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"limits.kv_max_value_size", c.Limits.KVMaxValueSize},
		{"limits.txn_max_req_len", c.Limits.TxnMaxReqLen},
		{"limits.txn_max_ops", c.Limits.TxnMaxOps},
		{"limits.http_max_conns_per_client", c.Limits.HTTPMaxConnsPerClient},
	} {
		if l.v <= 0 {
			return fmt.Errorf("%s must be > 0, got %d", l.name, l.v)
		}
	}
	switch m := c.Limits.RequestLimits.Mode; m {
	case RateLimitDisabled, RateLimitPermissive, RateLimitEnforcing:
	default:
		return fmt.Errorf("invalid limits.request_limits.mode %q (valid: %s, %s, %s)", m, RateLimitDisabled, RateLimitPermissive, RateLimitEnforcing)
	}
	return nil
}

func validateMisc(c *Config) error {
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("invalid log_level %q (valid: trace, debug, info, warn, error)", c.LogLevel)
	}
	if err := validateDomain(c.Domain); err != nil {
		return err
	}
	if err := validateACL(c); err != nil {
		return err
	}
	if err := validateTLS(c); err != nil {
		return err
	}
	if err := validateDNS(c); err != nil {
		return err
	}
	if err := validateAutopilot(c); err != nil {
		return err
	}
	if err := validateRaftLogStore(c); err != nil {
		return err
	}
	if err := validateKVReplication(c); err != nil {
		return err
	}
	if c.Encrypt != "" {
		key, err := base64.StdEncoding.DecodeString(c.Encrypt)
		if err != nil {
			return fmt.Errorf("encrypt has invalid key: %v", err)
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return fmt.Errorf("encrypt has invalid key: must be 16, 24 or 32 bytes, got %d", n)
		}
	}
	return nil
}

func validateDomain(domain string) error {
	name := strings.TrimSuffix(domain, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("domain %q is not a valid DNS domain", domain)
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) > 63 || !validDNSLabel.MatchString(label) {
			return fmt.Errorf("domain %q is not a valid DNS domain", domain)
		}
	}
	return nil
}

// validateScriptChecks refuses script checks in config files unless one of
// the script options allows them, as the Consul agent does at start.
func validateScriptChecks(c *Config) error {
	if c.EnableScriptChecks || c.EnableLocalScriptChecks {
		return nil
	}
	const msg = "scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"
	for _, chk := range c.Checks {
		if len(chk.Args) > 0 {
			return fmt.Errorf("check %q: %s", chk.Name, msg)
		}
	}
	for _, s := range c.Services {
		for _, chk := range s.Checks {
			if len(chk.Args) > 0 {
				return fmt.Errorf("service %q: %s", s.Name, msg)
			}
		}
	}
	return nil
}

// settleBootstrap turns bootstrap_expect = 1 into bootstrap mode, as
// Consul does, and returns Consul's warnings about risky but valid server
// setups.
func settleBootstrap(c *Config) []string {
	var w []string
	if c.BootstrapExpect == 1 {
		c.Bootstrap, c.BootstrapExpect = true, 0
		w = append(w, "bootstrap_expect = 1 is the same as bootstrap mode; using -bootstrap")
	}
	if c.Bootstrap && !c.Dev && !c.Secure {
		w = append(w, "bootstrap mode enabled: do not enable unless necessary")
	}
	switch n := c.BootstrapExpect; {
	case n == 2:
		w = append(w, "bootstrap_expect = 2: a cluster with 2 servers will provide no failure tolerance")
	case n > 2 && n%2 == 0:
		w = append(w, fmt.Sprintf("bootstrap_expect = %d is even: a cluster with an even number of servers does not achieve optimum fault tolerance", n))
	}
	return w
}

// nodeNameWarnings warns, as Consul does, about a node name DNS cannot serve.
func nodeNameWarnings(name string) []string {
	switch {
	case !validNodeName.MatchString(name):
		return []string{fmt.Sprintf("node name %q will not be discoverable via DNS due to invalid characters; valid characters are alphanumerics and dashes", name)}
	case len(name) > 63:
		return []string{fmt.Sprintf("node name %q will not be discoverable via DNS: it is longer than 63 characters", name)}
	}
	return nil
}

// syslogFacilities are the facility names enable_syslog accepts.
var syslogFacilities = []string{
	"KERN", "USER", "MAIL", "DAEMON", "AUTH", "SYSLOG", "LPR", "NEWS", "UUCP", "CRON", "AUTHPRIV", "FTP",
	"LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7",
}

func validateLogFile(c *Config) error {
	switch {
	case c.LogRotateBytes < 0:
		return fmt.Errorf("log_rotate_bytes cannot be negative (got %d)", c.LogRotateBytes)
	case c.LogRotateDuration < 0:
		return fmt.Errorf("log_rotate_duration cannot be negative (got %s)", c.LogRotateDuration)
	case c.LogRotateMaxFiles < -1:
		return fmt.Errorf("log_rotate_max_files must be -1 (keep none), 0 (keep all) or more (got %d)", c.LogRotateMaxFiles)
	}
	return nil
}

func validateSyslog(c *Config) error {
	if !slices.Contains(syslogFacilities, c.SyslogFacility) {
		return fmt.Errorf("syslog_facility %q is not a syslog facility (valid: %s)", c.SyslogFacility, strings.Join(syslogFacilities, ", "))
	}
	return nil
}

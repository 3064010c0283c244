package config

import (
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
)

// loader holds the host facts Load consults, so tests can replace them.
type loader struct {
	hostname       func() (string, error)
	interfaceAddrs func() ([]net.Addr, error)
	// help receives the usage text on -h.
	help io.Writer
	// prevNodeID is the node ID to keep when none is configured or
	// stored (Reload in dev mode, or a deleted node-id file).
	prevNodeID string
}

func hostLoader() *loader {
	return &loader{hostname: os.Hostname, interfaceAddrs: activeInterfaceAddrs, help: os.Stderr}
}

// Load builds the runtime Config from the agent's arguments (without the
// "agent" word). Sources apply in this order, later ones overriding
// earlier scalars and appending to lists (maps merge key by key):
// DefaultConfig, the -dev profile, each -config-file/-config-dir in
// command-line order (a directory's .json/.hcl files in lexical order), the
// other flags, then the -hcl fragments (as in Consul).
//
// The dev profile sets server, bootstrap, bind and client 127.0.0.1,
// enable_debug and log level debug, and keeps nothing on disk (random node
// ID); explicit flags and files still override it.
//
// Load returns warnings for Consul keys and flags it accepts but does not
// act on (one per key or flag and source, naming it) and for risky
// settings (with an error, the warnings gathered before it). Errors
// are one line and match ErrInvalid or ErrUnknownKey. Load prints nothing,
// except that -h/-help writes the usage text to standard error (like Go's
// flag package) and returns flag.ErrHelp. It reads config files and the
// host's interface addresses, and may create the data dir and write
// <data-dir>/node-id; it never exits or panics.
func Load(args []string) (*Config, []string, error) {
	return hostLoader().load(args)
}

// Reload re-reads the arguments and files prev was loaded from (config
// directories are listed again), for SIGHUP. The node ID stays prev's
// unless the configuration names another. Warnings name the settings that
// changed but only take effect after a restart.
func Reload(prev *Config) (*Config, []string, error) {
	if prev == nil || !prev.loaded {
		return nil, nil, ErrNotLoaded
	}
	l := hostLoader()
	l.prevNodeID = prev.NodeID
	c, warnings, err := l.load(prev.args)
	if err != nil {
		return nil, warnings, err
	}
	return c, append(warnings, restartWarnings(prev, c)...), nil
}

func (l *loader) load(args []string) (*Config, []string, error) {
	flags, err := parseFlags(args, l.help)
	if err != nil {
		return nil, nil, err
	}
	var merged partial
	if flags.dev {
		merge(&merged, devProfile())
	}
	if flags.secure {
		merge(&merged, secureProfile())
	}
	files, err := expandPaths(flags.configPaths)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, warnings, invalid(fmt.Errorf("config file %q: %w", name, err))
		}
		w, err := mergeSource(&merged, data, formatOf(name))
		warnings = append(warnings, prefixAll(fmt.Sprintf("config file %q: ", name), w)...)
		if err != nil {
			return nil, warnings, fmt.Errorf("config file %q: %w", name, err)
		}
	}
	merge(&merged, &flags.p)
	warnings = append(warnings, flags.warnings...)
	for i, frag := range flags.hcl {
		w, err := mergeSource(&merged, []byte(frag), "hcl")
		src := fmt.Sprintf("-hcl fragment %d: ", i+1)
		warnings = append(warnings, prefixAll(src, w)...)
		if err != nil {
			return nil, warnings, fmt.Errorf("%s%w", src, err)
		}
	}

	c := merged.config()
	c.Dev = flags.dev
	if c.Secure && merged.Bootstrap == nil && c.BootstrapExpect == 0 {
		c.Bootstrap = true // a one-server trial elects itself
	}
	c.ConfigFiles = files
	c.args = slices.Clone(args)
	c.loaded = true
	w, err := l.finish(c)
	warnings = append(warnings, w...)
	if err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// mergeSource parses and decodes one source and merges it into dst.
func mergeSource(dst *partial, data []byte, format string) ([]string, error) {
	m, err := parse(data, format)
	if err != nil {
		return nil, invalid(err)
	}
	p, warnings, err := decodeSource(m)
	if err != nil {
		return warnings, err
	}
	merge(dst, p)
	return warnings, nil
}

// finish normalises, fills the host-dependent values and validates.
func (l *loader) finish(c *Config) ([]string, error) {
	normalize(c)
	if c.NodeName == "" {
		name, err := l.hostname()
		if err != nil {
			return nil, invalidf("node_name cannot be empty: cannot read the host name: %v", err)
		}
		if name == "" {
			return nil, invalidf("node_name cannot be empty")
		}
		c.NodeName = name
	}
	if err := validate(c); err != nil {
		return nil, err
	}
	for i, r := range c.Recursors {
		n, err := normalizeRecursor(r)
		if err != nil {
			return nil, invalid(err)
		}
		c.Recursors[i] = n
	}
	warnings := append(settleBootstrap(c), nodeNameWarnings(c.NodeName)...)
	if err := l.resolveAddrs(c); err != nil {
		return warnings, invalid(err)
	}
	if err := l.resolveNodeID(c); err != nil {
		return warnings, err
	}
	return warnings, nil
}

// secureProfile is what -secure sets before any file or flag: a server
// with ACLs on (default deny), HTTPS on 8501 and plain HTTP off. The agent
// generates the TLS material, gossip key and management token at start.
func secureProfile() *partial {
	return &partial{
		Server: ptr(true),
		Secure: ptr(true),
		Ports:  partialPorts{HTTP: ptr(PortDisabled), HTTPS: ptr(8501)},
		ACL:    partialACL{Set: ptr(true), Enabled: ptr(true), DefaultPolicy: ptr("deny")},
	}
}

// devProfile is what -dev sets before any file or flag.
func devProfile() *partial {
	return &partial{
		Server:      ptr(true),
		Bootstrap:   ptr(true),
		BindAddr:    ptr("127.0.0.1"),
		ClientAddr:  ptr("127.0.0.1"),
		LogLevel:    ptr("debug"),
		EnableDebug: ptr(true),
		UI:          ptr(true),
	}
}

func prefixAll(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}

// reloadApplied are the Config fields a running agent takes from a
// reload; restartOnly are the others, by the key that sets them. Fields
// not acted on at all (notActedOnFields) are warned about when loaded and
// never said to "take effect after a restart". A test holds the three
// lists to the fields of Config.
var (
	reloadApplied    = []string{"Services", "Checks", "Watches", "ConfigFiles", "TLS"}
	notActedOnFields = []string{}
	restartOnly      = []struct{ field, key string }{
		{"Datacenter", "datacenter"}, {"NodeName", "node_name"}, {"NodeID", "node_id"},
		{"DataDir", "data_dir"}, {"Server", "server"}, {"Bootstrap", "bootstrap"},
		{"BootstrapExpect", "bootstrap_expect"}, {"Dev", "dev"}, {"BindAddr", "bind_addr"},
		{"AdvertiseAddr", "advertise_addr"}, {"AdvertiseAddrWAN", "advertise_addr_wan"},
		{"ClientAddr", "client_addr"}, {"ClientAddrs", "client_addr"}, {"HTTPAddrs", "addresses.http"}, {"HTTPSAddrs", "addresses.https"}, {"Secure", "secure"},
		{"DNSAddrs", "addresses.dns"}, {"EnableSyslog", "enable_syslog"}, {"SyslogFacility", "syslog_facility"},
		{"LogFile", "log_file"}, {"LogRotateBytes", "log_rotate_bytes"}, {"LogRotateDuration", "log_rotate_duration"}, {"LogRotateMaxFiles", "log_rotate_max_files"}, {"Ports", "ports"}, {"RetryJoin", "retry_join"},
		{"StartJoin", "start_join"}, {"RetryInterval", "retry_interval"},
		{"RetryJoinWAN", "retry_join_wan"}, {"StartJoinWAN", "start_join_wan"}, {"RetryIntervalWAN", "retry_interval_wan"}, {"RetryMax", "retry_max"},
		{"RejoinAfterLeave", "rejoin_after_leave"}, {"LeaveOnTerminate", "leave_on_terminate"},
		{"SkipLeaveOnInterrupt", "skip_leave_on_interrupt"}, {"LogLevel", "log_level"},
		{"LogJSON", "log_json"}, {"UI", "ui"}, {"UIDir", "ui_dir"}, {"PidFile", "pid_file"}, {"Encrypt", "encrypt"}, {"DisableKeyringFile", "disable_keyring_file"},
		{"EnableDebug", "enable_debug"}, {"EnableScriptChecks", "enable_script_checks"},
		{"EnableLocalScriptChecks", "enable_local_script_checks"}, {"NodeMeta", "node_meta"},
		{"RaftProtocol", "raft_protocol"}, {"Limits", "limits"}, {"DefaultQueryTime", "default_query_time"},
		{"MaxQueryTime", "max_query_time"}, {"CheckUpdateInterval", "check_update_interval"},
		{"AEInterval", "ae_interval"}, {"SessionTTLMin", "session_ttl_min"},
		{"ReconnectTimeout", "reconnect_timeout"}, {"Domain", "domain"}, {"AltDomain", "alt_domain"},
		{"Recursors", "recursors"}, {"DNS", "dns_config"}, {"ACL", "acl"}, {"PrimaryDatacenter", "primary_datacenter"},
		{"KVReplication", "kv_replication"}, {"Autopilot", "autopilot"}, {"DisableKVKeyValidation", "disable_kv_key_validation"},
		{"RaftLogStore", "raft_logstore"}, {"Telemetry", "telemetry"},
	}
)

// restartWarnings names the settings that differ between prev and next
// but are only read at start.
func restartWarnings(prev, next *Config) []string {
	p, n := prev.Clone(), next.Clone()
	pv, nv := reflect.ValueOf(p).Elem(), reflect.ValueOf(n).Elem()
	var w []string
	for _, f := range restartOnly {
		if !reflect.DeepEqual(pv.FieldByName(f.field).Interface(), nv.FieldByName(f.field).Interface()) {
			w = append(w, fmt.Sprintf("reload: %s changed; it takes effect after a restart", f.key))
		}
	}
	return w
}

// ServicesFromFile reads the service definitions (service and services
// blocks, with their checks) of one JSON or HCL file, as `meridian services
// register <file>` does. Other keys in the file are read and validated but
// not returned.
func ServicesFromFile(path string) ([]ServiceDefinition, error) {
	c, _, err := hostLoader().load([]string{"-dev", "-enable-local-script-checks", "-config-file", path})
	if err != nil {
		return nil, err
	}
	return c.Services, nil
}

package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// decoder maps the generic map of one source onto a partial, collecting
// warnings for Consul keys Meridian does not use yet.
type decoder struct {
	warnings []string
	warned   map[string]bool // paths already warned about in this source
}

// warn records one warning for the key at path; a key met twice in one
// source (HCL repeats blocks) is named once.
func (d *decoder) warn(path, msg string) {
	if d.warned[path] {
		return
	}
	if d.warned == nil {
		d.warned = map[string]bool{}
	}
	d.warned[path] = true
	d.warnings = append(d.warnings, msg)
}

// notActedOn wraps the decoder of a key Meridian parses and validates but
// does not act on yet (the feature behind it does not exist): the value is
// still checked and kept, and the source gets one warning naming the key,
// so an operator's Consul file loads but nothing is silently dropped.
func notActedOn[T any](why string, fn keyFunc[T]) keyFunc[T] {
	return func(d *decoder, t *T, v any, path string) error {
		if err := fn(d, t, v, path); err != nil {
			return err
		}
		d.warn(path, fmt.Sprintf("key %q is accepted but not acted on: %s", path, why))
		return nil
	}
}

// keyFunc decodes the value v of one key into t; path names the key for
// messages ("ports.http", "services[0].checks[1].interval").
type keyFunc[T any] func(d *decoder, t *T, v any, path string) error

// object describes the keys of one kind of object.
type object[T any] struct {
	keys   map[string]keyFunc[T]
	unused map[string]bool
	// loose matches keys without case or underscores, as Consul does for
	// service and check definitions ("ServiceID", "service_id").
	loose bool
}

func (o object[T]) lookup(key string) string {
	key = strings.ToLower(key)
	if o.loose {
		key = strings.ReplaceAll(key, "_", "")
	}
	return key
}

// decodeObject decodes every key of m into t, in key order. It returns an
// error wrapping ErrUnknownKey for a key neither in o.keys nor o.unused.
// JSON nulls are skipped.
func decodeObject[T any](d *decoder, o object[T], m map[string]any, t *T, path string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		full := joinPath(path, k)
		key := o.lookup(k)
		fn, ok := o.keys[key]
		switch {
		case ok && v == nil:
		case ok:
			if err := fn(d, t, v, full); err != nil {
				var ke *kindError
				if errors.As(err, &ke) {
					return err // already names its key
				}
				return invalid(fmt.Errorf("%s: %w", full, err))
			}
		case o.unused[key]:
			d.warn(full, fmt.Sprintf("key %q is a Consul option Meridian does not use yet; ignored", full))
		default:
			return &kindError{kind: ErrUnknownKey, err: fmt.Errorf("invalid config key %q", full)}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decodeSource decodes one source's top-level map into a new partial.
func decodeSource(m map[string]any) (*partial, []string, error) {
	d := &decoder{}
	var s sourceDraft
	if err := decodeObject(d, topLevel, m, &s, ""); err != nil {
		return nil, d.warnings, err
	}
	// Like Consul, a source's single "service"/"check" follow its lists.
	s.p.Services = append(s.p.Services, s.service...)
	s.p.Checks = append(s.p.Checks, s.check...)
	return &s.p, d.warnings, nil
}

// sourceDraft is a partial plus the single "service"/"check" entries,
// kept apart until the source is decoded so their order is Consul's.
type sourceDraft struct {
	p       partial
	service []ServiceDefinition
	check   []CheckDefinition
}

// opt decodes a scalar with conv into a pointer field.
func opt[T, V any](conv func(any) (V, error), field func(*T) **V) keyFunc[T] {
	return func(_ *decoder, t *T, v any, _ string) error {
		x, err := conv(v)
		if err != nil {
			return err
		}
		*field(t) = &x
		return nil
	}
}

// val decodes a scalar with conv into a plain field.
func val[T, V any](conv func(any) (V, error), field func(*T) *V) keyFunc[T] {
	return func(_ *decoder, t *T, v any, _ string) error {
		x, err := conv(v)
		if err != nil {
			return err
		}
		*field(t) = x
		return nil
	}
}

// appendStrings appends a list of strings to a list field.
func appendStrings[T any](field func(*T) *[]string) keyFunc[T] {
	return func(_ *decoder, t *T, v any, _ string) error {
		xs, err := toStrings(v)
		if err != nil {
			return err
		}
		*field(t) = append(*field(t), xs...)
		return nil
	}
}

// nested decodes an object value into the sub-struct field returns.
func nested[T, S any](o object[S], field func(*T) *S) keyFunc[T] {
	return func(d *decoder, t *T, v any, path string) error {
		m, err := toMap(v)
		if err != nil {
			return err
		}
		return decodeObject(d, o, m, field(t), path)
	}
}

// nonNegative wraps a duration converter to refuse negative values.
func nonNegative(v any) (time.Duration, error) {
	d, err := toDuration(v)
	if err == nil && d < 0 {
		return 0, errorf("duration %s must not be negative", d)
	}
	return d, err
}

// The top-level keys of a config file, as Consul names them.
var topLevel = object[sourceDraft]{
	unused: unusedTopLevelKeys,
	keys: map[string]keyFunc[sourceDraft]{
		"datacenter":       opt(toString, func(s *sourceDraft) **string { return &s.p.Datacenter }),
		"data_dir":         opt(toString, func(s *sourceDraft) **string { return &s.p.DataDir }),
		"node_name":        opt(toString, func(s *sourceDraft) **string { return &s.p.NodeName }),
		"node_id":          opt(toString, func(s *sourceDraft) **string { return &s.p.NodeID }),
		"server":           opt(toBool, func(s *sourceDraft) **bool { return &s.p.Server }),
		"bootstrap":        opt(toBool, func(s *sourceDraft) **bool { return &s.p.Bootstrap }),
		"bootstrap_expect": opt(toInt, func(s *sourceDraft) **int { return &s.p.BootstrapExpect }),

		"bind_addr":          opt(toString, func(s *sourceDraft) **string { return &s.p.BindAddr }),
		"advertise_addr":     opt(toString, func(s *sourceDraft) **string { return &s.p.AdvertiseAddr }),
		"advertise_addr_wan": opt(toString, func(s *sourceDraft) **string { return &s.p.AdvertiseAddrWAN }),
		"client_addr":        opt(toString, func(s *sourceDraft) **string { return &s.p.ClientAddr }),
		"addresses":          nested(addressesObject, func(s *sourceDraft) *partialAddresses { return &s.p.Addresses }),
		"ports":              nested(portsObject, func(s *sourceDraft) *partialPorts { return &s.p.Ports }),

		"retry_join":              appendStrings(func(s *sourceDraft) *[]string { return &s.p.RetryJoin }),
		"start_join":              appendStrings(func(s *sourceDraft) *[]string { return &s.p.StartJoin }),
		"retry_join_wan":          appendStrings(func(s *sourceDraft) *[]string { return &s.p.RetryJoinWAN }),
		"start_join_wan":          appendStrings(func(s *sourceDraft) *[]string { return &s.p.StartJoinWAN }),
		"retry_interval_wan":      opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.RetryIntervalWAN }),
		"retry_interval":          opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.RetryInterval }),
		"retry_max":               opt(toInt, func(s *sourceDraft) **int { return &s.p.RetryMax }),
		"rejoin_after_leave":      opt(toBool, func(s *sourceDraft) **bool { return &s.p.RejoinAfterLeave }),
		"leave_on_terminate":      opt(toBool, func(s *sourceDraft) **bool { return &s.p.LeaveOnTerminate }),
		"skip_leave_on_interrupt": opt(toBool, func(s *sourceDraft) **bool { return &s.p.SkipLeaveOnInterrupt }),

		"log_level": opt(toString, func(s *sourceDraft) **string { return &s.p.LogLevel }),
		"log_json":  opt(toBool, func(s *sourceDraft) **bool { return &s.p.LogJSON }),

		"log_file":             opt(toString, func(s *sourceDraft) **string { return &s.p.LogFile }),
		"log_rotate_bytes":     opt(toInt, func(s *sourceDraft) **int { return &s.p.LogRotateBytes }),
		"log_rotate_duration":  opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.LogRotateDuration }),
		"log_rotate_max_files": opt(toInt, func(s *sourceDraft) **int { return &s.p.LogRotateMaxFiles }),

		"enable_syslog":        opt(toBool, func(s *sourceDraft) **bool { return &s.p.EnableSyslog }),
		"syslog_facility":      opt(toString, func(s *sourceDraft) **string { return &s.p.SyslogFacility }),
		"ui":                   opt(toBool, func(s *sourceDraft) **bool { return &s.p.UI }),
		"ui_config":            nested(uiConfigObject, func(s *sourceDraft) *partial { return &s.p }),
		"ui_dir":               opt(toString, func(s *sourceDraft) **string { return &s.p.UIDir }),
		"pid_file":             opt(toString, func(s *sourceDraft) **string { return &s.p.PidFile }),
		"encrypt":              opt(toString, func(s *sourceDraft) **string { return &s.p.Encrypt }),
		"disable_keyring_file": opt(toBool, func(s *sourceDraft) **bool { return &s.p.DisableKeyring }),

		"enable_debug":               opt(toBool, func(s *sourceDraft) **bool { return &s.p.EnableDebug }),
		"enable_script_checks":       opt(toBool, func(s *sourceDraft) **bool { return &s.p.EnableScriptChecks }),
		"enable_local_script_checks": opt(toBool, func(s *sourceDraft) **bool { return &s.p.EnableLocalScriptChecks }),
		"node_meta":                  decodeNodeMeta,
		"raft_protocol":              opt(toInt, func(s *sourceDraft) **int { return &s.p.RaftProtocol }),
		"limits":                     nested(limitsObject, func(s *sourceDraft) *partialLimits { return &s.p.Limits }),
		"performance":                nested(performanceObject, func(s *sourceDraft) *partialLimits { return &s.p.Limits }),
		"kv_max_value_size":          opt(toInt, func(s *sourceDraft) **int { return &s.p.Limits.KVMaxValueSize }),
		"disable_kv_key_validation":  opt(toBool, func(s *sourceDraft) **bool { return &s.p.DisableKVKeyValidation }),

		"default_query_time":    opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.DefaultQueryTime }),
		"max_query_time":        opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.MaxQueryTime }),
		"check_update_interval": opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.CheckUpdateInterval }),
		"session_ttl_min":       opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.SessionTTLMin }),
		"reconnect_timeout":     opt(toDuration, func(s *sourceDraft) **time.Duration { return &s.p.ReconnectTimeout }),

		"domain":             opt(toString, func(s *sourceDraft) **string { return &s.p.Domain }),
		"alt_domain":         opt(toString, func(s *sourceDraft) **string { return &s.p.AltDomain }),
		"recursors":          appendStrings(func(s *sourceDraft) *[]string { return &s.p.Recursors }),
		"acl":                decodeACL,
		"tls":                nested(tlsObject, func(s *sourceDraft) *partialTLS { return &s.p.TLS }),
		"primary_datacenter": opt(toString, func(s *sourceDraft) **string { return &s.p.Primary }),
		"dns_config":         nested(dnsConfigObject, func(s *sourceDraft) *partialDNS { return &s.p.DNS }),

		"autopilot":      nested(autopilotObject, func(s *sourceDraft) *partialAutopilot { return &s.p.Autopilot }),
		"kv_replication": nested(kvReplicationObject, func(s *sourceDraft) *partialKVReplication { return &s.p.KVReplication }),
		"raft_logstore":  nested(raftLogStoreObject, func(s *sourceDraft) *partialRaftLogStore { return &s.p.RaftLogStore }),
		"telemetry":      nested(telemetryObject, func(s *sourceDraft) *partialTelemetry { return &s.p.Telemetry }),

		"services": decodeServices(func(s *sourceDraft) *[]ServiceDefinition { return &s.p.Services }),
		"service":  decodeServices(func(s *sourceDraft) *[]ServiceDefinition { return &s.service }),
		"checks":   decodeChecks(true, func(s *sourceDraft) *[]CheckDefinition { return &s.p.Checks }),
		"check":    decodeChecks(true, func(s *sourceDraft) *[]CheckDefinition { return &s.check }),
		"watches":  decodeWatches,
	},
}

var addressesObject = object[partialAddresses]{
	unused: unusedAddressKeys,
	keys: map[string]keyFunc[partialAddresses]{
		"http":  opt(toString, func(a *partialAddresses) **string { return &a.HTTP }),
		"https": opt(toString, func(a *partialAddresses) **string { return &a.HTTPS }),
		"dns":   opt(toString, func(a *partialAddresses) **string { return &a.DNS }),
	},
}

var portsObject = object[partialPorts]{
	unused: unusedPortKeys,
	keys: map[string]keyFunc[partialPorts]{
		"http":     opt(toInt, func(p *partialPorts) **int { return &p.HTTP }),
		"https":    opt(toInt, func(p *partialPorts) **int { return &p.HTTPS }),
		"dns":      opt(toInt, func(p *partialPorts) **int { return &p.DNS }),
		"server":   opt(toInt, func(p *partialPorts) **int { return &p.Server }),
		"serf_lan": opt(toInt, func(p *partialPorts) **int { return &p.SerfLAN }),
		"serf_wan": opt(toInt, func(p *partialPorts) **int { return &p.SerfWAN }),
	},
}

var limitsObject = object[partialLimits]{
	unused: unusedLimitKeys,
	keys: map[string]keyFunc[partialLimits]{
		"kv_max_value_size":         opt(toInt, func(l *partialLimits) **int { return &l.KVMaxValueSize }),
		"txn_max_req_len":           opt(toInt, func(l *partialLimits) **int { return &l.TxnMaxReqLen }),
		"txn_max_ops":               opt(toInt, func(l *partialLimits) **int { return &l.TxnMaxOps }),
		"http_max_conns_per_client": opt(toInt, func(l *partialLimits) **int { return &l.HTTPMaxConnsPerClient }),
		"request_limits":            nested(requestLimitsObject, func(l *partialLimits) *partialRequestLimits { return &l.RequestLimits }),
	},
}

var requestLimitsObject = object[partialRequestLimits]{
	keys: map[string]keyFunc[partialRequestLimits]{
		"mode":       opt(toString, func(l *partialRequestLimits) **string { return &l.Mode }),
		"read_rate":  opt(toFloat, func(l *partialRequestLimits) **float64 { return &l.ReadRate }),
		"write_rate": opt(toFloat, func(l *partialRequestLimits) **float64 { return &l.WriteRate }),
	},
}

// performanceObject: Consul keeps rpc_hold_timeout and raft_multiplier
// under "performance".
var performanceObject = object[partialLimits]{
	unused: unusedPerformanceKeys,
	keys: map[string]keyFunc[partialLimits]{
		"rpc_hold_timeout": opt(toDuration, func(l *partialLimits) **time.Duration { return &l.RPCHoldTimeout }),
		"raft_multiplier":  opt(toInt, func(l *partialLimits) **int { return &l.RaftMultiplier }),
	},
}

var uiConfigObject = object[partial]{
	unused: unusedUIConfigKeys,
	keys: map[string]keyFunc[partial]{
		"enabled": opt(toBool, func(p *partial) **bool { return &p.UI }),
		"dir":     opt(toString, func(p *partial) **string { return &p.UIDir }),
	},
}

func decodeNodeMeta(_ *decoder, s *sourceDraft, v any, _ string) error {
	m, err := toStringMap(v)
	if err != nil {
		return err
	}
	if s.p.NodeMeta == nil {
		s.p.NodeMeta = map[string]string{}
	}
	maps.Copy(s.p.NodeMeta, m)
	return nil
}

func decodeWatches(_ *decoder, s *sourceDraft, v any, _ string) error {
	ms, err := toMaps(v)
	if err != nil {
		return err
	}
	for _, m := range ms {
		s.p.Watches = append(s.p.Watches, jsonShape(m).(map[string]any))
	}
	return nil
}

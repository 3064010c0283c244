package config

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// DNSConfig is Consul's dns_config block: how the agent answers DNS.
type DNSConfig struct {
	// AllowStale lets any server answer a lookup from its own state, unless
	// it is more than MaxStale behind the leader.
	AllowStale bool
	MaxStale   time.Duration
	// NodeTTL is the TTL of node records; ServiceTTL maps service names to
	// the TTL of their records ("*" and "prefix*" wildcards).
	NodeTTL    time.Duration
	ServiceTTL map[string]time.Duration
	// OnlyPassing leaves instances with warning checks out of answers.
	OnlyPassing bool
	// EnableTruncate sets the TC bit on UDP answers cut to UDPAnswerLimit.
	EnableTruncate bool
	// UDPAnswerLimit caps the answers of UDP responses to clients without
	// EDNS0; ARecordLimit caps the address records of any service answer
	// (0 for no cap).
	UDPAnswerLimit int
	ARecordLimit   int
	// DisableCompression turns off DNS name compression.
	DisableCompression bool
	// EnableAdditionalNodeMetaTXT adds node metadata as TXT records in the
	// additional section.
	EnableAdditionalNodeMetaTXT bool
	// RecursorStrategy is "sequential" or "random"; RecursorTimeout bounds
	// each recursor's answer.
	RecursorStrategy string
	RecursorTimeout  time.Duration
	// SOA holds the SOA record's timers in seconds.
	SOA DNSSOA
	// UseCache answers service lookups from a cache that blocking queries
	// keep current; CacheMaxAge, when set, is the age past which a cached
	// answer is read again.
	UseCache    bool
	CacheMaxAge time.Duration
}

// DNSSOA are the timers of the domain's SOA record, in seconds.
type DNSSOA struct {
	Refresh, Retry, Expire, MinTTL uint32
}

// defaultDNSConfig is Consul's dns_config defaults.
func defaultDNSConfig() DNSConfig {
	return DNSConfig{
		AllowStale:                  true,
		MaxStale:                    87600 * time.Hour,
		UDPAnswerLimit:              3,
		EnableAdditionalNodeMetaTXT: true,
		RecursorStrategy:            "sequential",
		RecursorTimeout:             2 * time.Second,
		SOA:                         DNSSOA{Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: 0},
	}
}

func (d DNSConfig) clone() DNSConfig {
	d.ServiceTTL = maps.Clone(d.ServiceTTL)
	return d
}

// partialDNS is one source's dns_config.
type partialDNS struct {
	AllowStale, OnlyPassing, EnableTruncate, DisableCompression, NodeMetaTXT, UseCache *bool
	MaxStale, NodeTTL, RecursorTimeout, CacheMaxAge                                    *time.Duration
	ServiceTTL                                                                         map[string]time.Duration
	UDPAnswerLimit, ARecordLimit                                                       *int
	RecursorStrategy                                                                   *string
	SOARefresh, SOARetry, SOAExpire, SOAMinTTL                                         *int
}

func (p *partialDNS) apply(d *DNSConfig) {
	set(&d.AllowStale, p.AllowStale)
	set(&d.OnlyPassing, p.OnlyPassing)
	set(&d.EnableTruncate, p.EnableTruncate)
	set(&d.DisableCompression, p.DisableCompression)
	set(&d.EnableAdditionalNodeMetaTXT, p.NodeMetaTXT)
	set(&d.MaxStale, p.MaxStale)
	set(&d.NodeTTL, p.NodeTTL)
	set(&d.RecursorTimeout, p.RecursorTimeout)
	set(&d.UDPAnswerLimit, p.UDPAnswerLimit)
	set(&d.ARecordLimit, p.ARecordLimit)
	set(&d.RecursorStrategy, p.RecursorStrategy)
	set(&d.UseCache, p.UseCache)
	set(&d.CacheMaxAge, p.CacheMaxAge)
	if p.ServiceTTL != nil {
		d.ServiceTTL = maps.Clone(p.ServiceTTL)
	}
	for _, f := range []struct {
		dst *uint32
		src *int
	}{{&d.SOA.Refresh, p.SOARefresh}, {&d.SOA.Retry, p.SOARetry}, {&d.SOA.Expire, p.SOAExpire}, {&d.SOA.MinTTL, p.SOAMinTTL}} {
		if f.src != nil {
			*f.dst = uint32(*f.src)
		}
	}
}

// unusedDNSKeys are dns_config keys Meridian accepts without acting on.
var unusedDNSKeys = keySet("prefer_namespace")

var dnsConfigObject = object[partialDNS]{
	unused: unusedDNSKeys,
	keys: map[string]keyFunc[partialDNS]{
		"allow_stale":                     opt(toBool, func(p *partialDNS) **bool { return &p.AllowStale }),
		"max_stale":                       opt(nonNegative, func(p *partialDNS) **time.Duration { return &p.MaxStale }),
		"node_ttl":                        opt(nonNegative, func(p *partialDNS) **time.Duration { return &p.NodeTTL }),
		"service_ttl":                     decodeServiceTTL,
		"only_passing":                    opt(toBool, func(p *partialDNS) **bool { return &p.OnlyPassing }),
		"enable_truncate":                 opt(toBool, func(p *partialDNS) **bool { return &p.EnableTruncate }),
		"udp_answer_limit":                opt(toInt, func(p *partialDNS) **int { return &p.UDPAnswerLimit }),
		"a_record_limit":                  opt(toInt, func(p *partialDNS) **int { return &p.ARecordLimit }),
		"disable_compression":             opt(toBool, func(p *partialDNS) **bool { return &p.DisableCompression }),
		"enable_additional_node_meta_txt": opt(toBool, func(p *partialDNS) **bool { return &p.NodeMetaTXT }),
		"recursor_strategy":               opt(toString, func(p *partialDNS) **string { return &p.RecursorStrategy }),
		"recursor_timeout":                opt(nonNegative, func(p *partialDNS) **time.Duration { return &p.RecursorTimeout }),
		"soa":                             nested(soaObject, func(p *partialDNS) *partialDNS { return p }),
		"use_cache":                       opt(toBool, func(p *partialDNS) **bool { return &p.UseCache }),
		"cache_max_age":                   opt(nonNegative, func(p *partialDNS) **time.Duration { return &p.CacheMaxAge }),
	},
}

var soaObject = object[partialDNS]{
	keys: map[string]keyFunc[partialDNS]{
		"refresh": opt(toSeconds, func(p *partialDNS) **int { return &p.SOARefresh }),
		"retry":   opt(toSeconds, func(p *partialDNS) **int { return &p.SOARetry }),
		"expire":  opt(toSeconds, func(p *partialDNS) **int { return &p.SOAExpire }),
		"min_ttl": opt(toSeconds, func(p *partialDNS) **int { return &p.SOAMinTTL }),
	},
}

// toSeconds reads an SOA timer: a whole number of seconds that fits 32 bits.
func toSeconds(v any) (int, error) {
	n, err := toInt(v)
	if err == nil && (n < 0 || n > 1<<31-1) {
		return 0, errorf("%d seconds is out of range", n)
	}
	return n, err
}

// decodeServiceTTL reads service_ttl: service name (or wildcard) to
// duration.
func decodeServiceTTL(_ *decoder, p *partialDNS, v any, path string) error {
	m, err := toMap(v)
	if err != nil {
		return err
	}
	if p.ServiceTTL == nil {
		p.ServiceTTL = map[string]time.Duration{}
	}
	for k, raw := range m {
		d, err := nonNegative(raw)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", path, k, err)
		}
		p.ServiceTTL[k] = d
	}
	return nil
}

// validateDNS checks the domains and dns_config.
func validateDNS(c *Config) error {
	if c.AltDomain != "" {
		if err := validateDomain(c.AltDomain); err != nil {
			return fmt.Errorf("alt_domain: %w", err)
		}
	}
	d := &c.DNS
	switch {
	case d.UDPAnswerLimit < 0:
		return fmt.Errorf("dns_config.udp_answer_limit %d must not be negative", d.UDPAnswerLimit)
	case d.ARecordLimit < 0:
		return fmt.Errorf("dns_config.a_record_limit %d must not be negative", d.ARecordLimit)
	case d.RecursorStrategy != "sequential" && d.RecursorStrategy != "random":
		return fmt.Errorf("dns_config.recursor_strategy %q: want sequential or random", d.RecursorStrategy)
	}
	for k := range d.ServiceTTL {
		if i := strings.Index(k, "*"); k == "" || (i >= 0 && i != len(k)-1) {
			return fmt.Errorf("dns_config.service_ttl: %q: a wildcard may only end a name", k)
		}
	}
	return nil
}

func normalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if d != "" && !strings.HasSuffix(d, ".") {
		d += "."
	}
	return d
}

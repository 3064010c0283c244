package dns

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config is the DNS server's configuration, named after Consul's
// dns_config keys. New copies it; callers may reuse theirs.
type Config struct {
	// Datacenter is the local datacenter: names without a datacenter label
	// are looked up there.
	Datacenter string
	// Domain is the domain answered for ("consul."); AltDomain is a second
	// one (empty for none). Answers use the domain the question named.
	Domain    string
	AltDomain string

	// NodeTTL is the TTL of node records (node_ttl).
	NodeTTL time.Duration
	// ServiceTTL maps service names to the TTL of their records
	// (service_ttl). A key ending in "*" matches every service with that
	// prefix; "*" alone matches all. An exact name wins over a wildcard,
	// and a longer wildcard over a shorter one.
	ServiceTTL map[string]time.Duration

	// AllowStale lets any server answer from its own state (allow_stale);
	// an answer more than MaxStale behind the leader is asked again of the
	// leader (max_stale).
	AllowStale bool
	MaxStale   time.Duration
	// OnlyPassing leaves out instances with warning checks (only_passing);
	// instances with critical checks are always left out.
	OnlyPassing bool

	// EnableTruncate sets the TC bit when udp_answer_limit cut a UDP answer
	// (enable_truncate). An answer cut because it did not fit the client's
	// UDP size always carries TC.
	EnableTruncate bool
	// UDPAnswerLimit caps the answers of a UDP response to a client without
	// EDNS0 (udp_answer_limit, at most 8 as in Consul).
	UDPAnswerLimit int
	// ARecordLimit caps the address records of a service answer over any
	// transport (a_record_limit); 0 means no cap.
	ARecordLimit int
	// DisableCompression turns off name compression (disable_compression).
	DisableCompression bool
	// NodeMetaTXT adds a node's metadata as TXT records in the additional
	// section of node and SRV answers (enable_additional_node_meta_txt).
	NodeMetaTXT bool
	// SOA holds the SOA record's timers (soa).
	SOA SOAConfig

	// Recursors are upstream servers ("ip:port") for names outside the
	// domain, tried in order (recursor_strategy "sequential") or in random
	// order ("random"), each given RecursorTimeout (recursor_timeout).
	Recursors        []string
	RecursorStrategy string
	RecursorTimeout  time.Duration

	// UseCache answers service lookups from a cache kept fresh by blocking
	// queries (use_cache; needs a Backend that is a Watcher and
	// AllowStale); CacheMaxAge, when set, is the age past which a cached
	// answer is read again (cache_max_age).
	UseCache    bool
	CacheMaxAge time.Duration

	// LookupTimeout bounds one lookup in the catalog; a lookup that takes
	// longer is answered SERVFAIL.
	LookupTimeout time.Duration
}

// SOAConfig are the timers of the domain's SOA record, in seconds.
type SOAConfig struct {
	Refresh uint32
	Retry   uint32
	Expire  uint32
	MinTTL  uint32
}

// Recursor strategies.
const (
	StrategySequential = "sequential"
	StrategyRandom     = "random"
)

// maxUDPAnswerLimit is the most answers a UDP response to a client
// without EDNS0 carries, whatever udp_answer_limit says (Consul's).
const maxUDPAnswerLimit = 8

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	return Config{
		Datacenter:       "dc1",
		Domain:           "consul.",
		AllowStale:       true,
		MaxStale:         10 * 365 * 24 * time.Hour,
		UDPAnswerLimit:   3,
		NodeMetaTXT:      true,
		SOA:              SOAConfig{Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: 0},
		RecursorStrategy: StrategySequential,
		RecursorTimeout:  2 * time.Second,
		LookupTimeout:    5 * time.Second,
	}
}

// normalize validates c and returns a copy with domains lower-cased and
// fully qualified.
func (c Config) normalize() (Config, error) {
	out := c
	if c.Datacenter == "" {
		return out, errors.New("dns: no datacenter")
	}
	out.Datacenter = strings.ToLower(c.Datacenter)
	if c.Domain == "" {
		return out, errors.New("dns: no domain")
	}
	for _, d := range []*string{&out.Domain, &out.AltDomain} {
		if *d == "" {
			continue
		}
		*d = dns.Fqdn(strings.ToLower(*d))
		if _, ok := dns.IsDomainName(*d); !ok {
			return out, fmt.Errorf("dns: %q is not a domain name", *d)
		}
	}
	if out.AltDomain == out.Domain {
		out.AltDomain = ""
	}
	if c.UDPAnswerLimit < 0 || c.ARecordLimit < 0 {
		return out, errors.New("dns: answer limits must not be negative")
	}
	switch c.RecursorStrategy {
	case "":
		out.RecursorStrategy = StrategySequential
	case StrategySequential, StrategyRandom:
	default:
		return out, fmt.Errorf("dns: recursor_strategy %q: want sequential or random", c.RecursorStrategy)
	}
	if c.RecursorTimeout <= 0 {
		out.RecursorTimeout = 2 * time.Second
	}
	if c.LookupTimeout <= 0 {
		out.LookupTimeout = 5 * time.Second
	}
	out.Recursors = append([]string(nil), c.Recursors...)
	out.ServiceTTL = make(map[string]time.Duration, len(c.ServiceTTL))
	for k, v := range c.ServiceTTL {
		out.ServiceTTL[strings.ToLower(k)] = v
	}
	return out, nil
}

// serviceTTL is the TTL of a service's records: its exact entry, else the
// longest wildcard prefix that matches, else 0.
func (c *Config) serviceTTL(service string) uint32 {
	service = strings.ToLower(service)
	if ttl, ok := c.ServiceTTL[service]; ok {
		return seconds(ttl)
	}
	best, found := -1, time.Duration(0)
	for k, ttl := range c.ServiceTTL {
		prefix, ok := strings.CutSuffix(k, "*")
		if ok && strings.HasPrefix(service, prefix) && len(prefix) > best {
			best, found = len(prefix), ttl
		}
	}
	return seconds(found)
}

func seconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(d / time.Second)
}

package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDNSConfig(t *testing.T) {
	c, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-alt-domain", "Meridian", "-hcl", `
dns_config {
  allow_stale = false
  max_stale = "30s"
  node_ttl = "10s"
  service_ttl { "*" = "5s", "web" = "1m" }
  only_passing = true
  enable_truncate = true
  udp_answer_limit = 5
  a_record_limit = 2
  disable_compression = true
  enable_additional_node_meta_txt = false
  recursor_strategy = "random"
  recursor_timeout = "500ms"
  soa { refresh = 60, retry = 30, expire = 600, min_ttl = 5 }
  use_cache = true
  cache_max_age = "10s"
  prefer_namespace = "ns"
}`)
	want := DNSConfig{
		AllowStale: false, MaxStale: 30 * time.Second, NodeTTL: 10 * time.Second,
		ServiceTTL:  map[string]time.Duration{"*": 5 * time.Second, "web": time.Minute},
		OnlyPassing: true, EnableTruncate: true, UDPAnswerLimit: 5, ARecordLimit: 2,
		DisableCompression: true, EnableAdditionalNodeMetaTXT: false,
		RecursorStrategy: "random", RecursorTimeout: 500 * time.Millisecond,
		SOA:      DNSSOA{Refresh: 60, Retry: 30, Expire: 600, MinTTL: 5},
		UseCache: true, CacheMaxAge: 10 * time.Second,
	}
	if !reflect.DeepEqual(c.DNS, want) {
		t.Errorf("DNS = %+v\nwant  %+v", c.DNS, want)
	}
	if c.AltDomain != "meridian." {
		t.Errorf("AltDomain = %q", c.AltDomain)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"dns_config.prefer_namespace"`) {
		t.Errorf("warnings = %q, want one for prefer_namespace", warnings)
	}
	d, _ := mustLoad(t, "-data-dir", t.TempDir())
	if !reflect.DeepEqual(d.DNS, defaultDNSConfig()) || d.AltDomain != "" || d.Ports.DNS != 8600 {
		t.Errorf("defaults: %+v alt %q port %d", d.DNS, d.AltDomain, d.Ports.DNS)
	}
	// Clone copies the TTL map.
	cl := c.Clone()
	cl.DNS.ServiceTTL["web"] = 0
	if c.DNS.ServiceTTL["web"] != time.Minute {
		t.Error("Clone shares service_ttl")
	}
}

func TestDNSConfigInvalid(t *testing.T) {
	for _, tc := range []struct{ hcl, want string }{
		{`dns_config { udp_answer_limit = -1 }`, "dns_config.udp_answer_limit -1 must not be negative"},
		{`dns_config { a_record_limit = -3 }`, "dns_config.a_record_limit -3 must not be negative"},
		{`dns_config { recursor_strategy = "fastest" }`, `dns_config.recursor_strategy "fastest": want sequential or random`},
		{`dns_config { recursor_timeout = "-1s" }`, "dns_config.recursor_timeout"},
		{`dns_config { service_ttl { "w*b" = "1s" } }`, `dns_config.service_ttl: "w*b": a wildcard may only end a name`},
		{`dns_config { service_ttl { "web" = "soon" } }`, "dns_config.service_ttl.web"},
		{`dns_config { soa { refresh = -1 } }`, "dns_config.soa.refresh"},
		{`dns_config { bogus = 1 }`, `invalid config key "dns_config.bogus"`},
		{`alt_domain = "a..b"`, `alt_domain: domain "a..b." is not a valid DNS domain`},
	} {
		err := loadErr(t, "-data-dir", t.TempDir(), "-hcl", tc.hcl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.hcl, err, tc.want)
		}
	}
}

func TestDNSSettingsNeedARestart(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "a.hcl", `dns_config { node_ttl = "1s" }`)
	prev, _, err := Load([]string{"-dev", "-config-file", file})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.hcl", "dns_config { node_ttl = \"2s\" }\nports { dns = 8653 }\n")
	_, warnings, err := Reload(prev)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"reload: ports changed; it takes effect after a restart",
		"reload: dns_config changed; it takes effect after a restart",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Fatalf("warnings = %q, want %q", warnings, want)
	}
}

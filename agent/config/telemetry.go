package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"
)

// Telemetry is the telemetry block: how the agent names and exports its
// metrics.
type Telemetry struct {
	// MetricsPrefix starts every metric name ("meridian": Prometheus
	// families meridian_*, statsd keys meridian.*).
	MetricsPrefix string
	// DisableHostname leaves the node name out of gauge names sent to
	// statsd and shown in the JSON summary (Prometheus never has it).
	DisableHostname bool
	// PrometheusRetentionTime is how long a series fed by a metrics event
	// (a timing, a counter) is kept after its last update; 0 keeps it.
	PrometheusRetentionTime time.Duration
	// StatsdAddress, host:port, receives every metric over UDP; "" sends
	// none.
	StatsdAddress string
}

// DefaultMetricsPrefix starts metric names unless metrics_prefix says
// otherwise.
const DefaultMetricsPrefix = "meridian"

// partialTelemetry is one source's telemetry block.
type partialTelemetry struct {
	MetricsPrefix           *string
	DisableHostname         *bool
	PrometheusRetentionTime *time.Duration
	StatsdAddress           *string
}

func (p *partialTelemetry) apply(t *Telemetry) {
	set(&t.MetricsPrefix, p.MetricsPrefix)
	set(&t.DisableHostname, p.DisableHostname)
	set(&t.PrometheusRetentionTime, p.PrometheusRetentionTime)
	set(&t.StatsdAddress, p.StatsdAddress)
}

// unusedTelemetryKeys are Consul's telemetry keys Meridian accepts with a
// warning (other sinks, filters).
var unusedTelemetryKeys = keySet(
	"statsite_address", "dogstatsd_addr", "dogstatsd_tags", "circonus_api_token",
	"circonus_api_app", "circonus_api_url", "circonus_submission_interval",
	"circonus_submission_url", "circonus_check_id", "circonus_check_force_metric_activation",
	"circonus_check_instance_id", "circonus_check_search_tag", "circonus_check_display_name",
	"circonus_check_tags", "circonus_broker_id", "circonus_broker_select_tag",
	"filter_default", "prefix_filter", "allowed_prefixes", "blocked_prefixes",
	"disable_compat_1.9", "enable_host_metrics", "retry_failed_connection",
	"statsite_prefix",
)

var telemetryObject = object[partialTelemetry]{
	unused: unusedTelemetryKeys,
	keys: map[string]keyFunc[partialTelemetry]{
		"metrics_prefix":            opt(toString, func(p *partialTelemetry) **string { return &p.MetricsPrefix }),
		"disable_hostname":          opt(toBool, func(p *partialTelemetry) **bool { return &p.DisableHostname }),
		"prometheus_retention_time": opt(toDuration, func(p *partialTelemetry) **time.Duration { return &p.PrometheusRetentionTime }),
		"statsd_address":            opt(toString, func(p *partialTelemetry) **string { return &p.StatsdAddress }),
	},
}

// metricsPrefixRE: the prefix becomes the first word of Prometheus
// family names, so it must be one.
var metricsPrefixRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// validateTelemetry checks the telemetry block.
func validateTelemetry(c *Config) error {
	t := c.Telemetry
	if !metricsPrefixRE.MatchString(t.MetricsPrefix) {
		return fmt.Errorf("telemetry.metrics_prefix %q must be letters, digits or '_', not starting with a digit", t.MetricsPrefix)
	}
	if t.PrometheusRetentionTime < 0 {
		return fmt.Errorf("telemetry.prometheus_retention_time %s is negative", t.PrometheusRetentionTime)
	}
	if t.StatsdAddress != "" {
		host, port, err := net.SplitHostPort(t.StatsdAddress)
		if err != nil {
			return fmt.Errorf("telemetry.statsd_address %q is not host:port: %v", t.StatsdAddress, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("telemetry.statsd_address %q: port %q is not 1-65535", t.StatsdAddress, port)
		}
		if host == "" {
			return fmt.Errorf("telemetry.statsd_address %q has no host", t.StatsdAddress)
		}
	}
	return nil
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestTelemetryLoad: the telemetry block loads from HCL and JSON, and a
// bad value is refused with its key named.
func TestTelemetryLoad(t *testing.T) {
	c, warnings := mustLoad(t, "-data-dir", t.TempDir(), "-hcl",
		`telemetry { metrics_prefix = "consul" disable_hostname = true
		 prometheus_retention_time = "90s" statsd_address = "127.0.0.1:8125" }`)
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	want := Telemetry{MetricsPrefix: "consul", DisableHostname: true, PrometheusRetentionTime: 90 * time.Second, StatsdAddress: "127.0.0.1:8125"}
	if c.Telemetry != want {
		t.Fatalf("telemetry = %+v, want %+v", c.Telemetry, want)
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "t.json", `{"telemetry": {"statsd_address": "statsd.local:9125"}}`)
	c, _ = mustLoad(t, "-data-dir", t.TempDir(), "-config-file", path)
	if c.Telemetry.StatsdAddress != "statsd.local:9125" || c.Telemetry.MetricsPrefix != "meridian" || c.Telemetry.PrometheusRetentionTime != 0 {
		t.Fatalf("telemetry = %+v", c.Telemetry)
	}
	for hcl, msg := range map[string]string{
		`telemetry { metrics_prefix = "" }`:                `telemetry.metrics_prefix "" must be letters, digits or '_'`,
		`telemetry { metrics_prefix = "9lives" }`:          `telemetry.metrics_prefix "9lives"`,
		`telemetry { metrics_prefix = "my.app" }`:          `telemetry.metrics_prefix "my.app"`,
		`telemetry { prometheus_retention_time = "-1s" }`:  "telemetry.prometheus_retention_time -1s is negative",
		`telemetry { prometheus_retention_time = "soon" }`: "prometheus_retention_time",
		`telemetry { disable_hostname = "maybe" }`:         "disable_hostname",
		`telemetry { statsd_address = "localhost" }`:       `telemetry.statsd_address "localhost" is not host:port`,
		`telemetry { statsd_address = "localhost:0" }`:     `port "0" is not 1-65535`,
		`telemetry { statsd_address = ":8125" }`:           "has no host",
		`telemetry { statsd_addr = "127.0.0.1:8125" }`:     "statsd_addr",
	} {
		_, _, err := Load([]string{"-data-dir", t.TempDir(), "-hcl", hcl})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err = %v, want one naming %q", hcl, err, msg)
		}
	}
}

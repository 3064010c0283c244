package config

// Why a setting Meridian parses and validates is not acted on yet. Each
// key or flag that carries one of these loads with one warning naming it
// (see notActedOn and ignoredFlags); the value is kept in Config for the
// version that implements the feature.
// (none today).

// ignoredFlags are the agent flags Meridian accepts but does not act on
// yet, with the reason the warning gives; such a flag's usage ends with
// "Ignored with a warning: <reason>." (none today).
var ignoredFlags = map[string]string{}

// Consul configuration keys Meridian accepts but does not act on yet. A
// file using one loads with a warning instead of failing, so an operator's
// Consul config works unchanged; anything outside these sets and the keys
// decode.go maps is an unknown-key error.
var (
	unusedTopLevelKeys = keySet(
		// ACL (current stanza and the deprecated flat keys).
		"acl_agent_master_token", "acl_agent_token", "acl_datacenter",
		"acl_default_policy", "acl_disabled_ttl", "acl_down_policy",
		"acl_enable_key_list_policy", "acl_master_token", "acl_replication_token",
		"acl_token", "acl_ttl", "enable_acl_replication",
		// Addresses, gossip and networking details.
		"advertise_addrs", "advertise_addr_ipv4", "advertise_addr_ipv6",
		"advertise_addr_wan_ipv4", "advertise_addr_wan_ipv6", "advertise_reconnect_timeout",
		"gossip_lan", "gossip_wan", "serf_lan", "serf_wan", "serf_lan_allowed_cidrs",
		"serf_wan_allowed_cidrs", "translate_wan_addrs", "tagged_addresses",
		"unix_sockets", "protocol", "segment", "segments", "segment_limit",
		"segment_name_limit", "reconnect_timeout_wan", "start_join_wan_interval",
		"retry_max_wan", "primary_gateways",
		"primary_gateways_interval", "server_name", "server_rejoin_age_max",
		// TLS and gossip encryption.
		"auto_encrypt", "auto_config", "tls_prefer_server_cipher_suites",
		"encrypt_verify_incoming", "encrypt_verify_outgoing",
		// Features Meridian does not have (yet).
		"connect", "config_entries", "audit", "cache",
		"cloud", "peering", "experiments", "license_path", "locality", "reporting",
		"snapshot_agent", "xds", "rpc", "read_replica", "non_voting_server",
		"http_config",
		"enable_central_service_config", "enable_agent_tls_for_checks",
		"disable_anonymous_signature", "disable_coordinates", "disable_host_node_id",
		"disable_http_unprintable_char_filter", "disable_remote_exec",
		"disable_update_check", "discard_check_output", "discovery_max_stale",
		"check_output_max_size", "auto_reload_config", "raft_boltdb",
		"raft_snapshot_interval", "raft_snapshot_threshold", "raft_trailing_logs",
		"ui_content_path",
	)
	unusedAddressKeys = keySet("grpc", "grpc_tls")
	unusedPortKeys    = keySet(
		"grpc", "grpc_tls", "proxy_min_port", "proxy_max_port",
		"sidecar_min_port", "sidecar_max_port", "expose_min_port", "expose_max_port",
	)
	unusedLimitKeys = keySet(
		"https_handshake_timeout", "rpc_handshake_timeout", "rpc_client_timeout",
		"rpc_max_burst", "rpc_max_conns_per_client", "rpc_rate",
		"xds_server",
	)
	unusedPerformanceKeys = keySet(
		"leave_drain_time", "grpc_keepalive_interval",
		"grpc_keepalive_timeout",
	)
	unusedUIConfigKeys = keySet(
		"content_path", "metrics_provider", "metrics_provider_files",
		"metrics_provider_options_json", "metrics_proxy", "dashboard_url_templates",
		"hcp_enabled",
	)
	// Service and check keys are matched without case or underscores.
	unusedServiceKeys = keySet(
		"kind", "token", "taggedaddresses", "connect", "proxy", "socketpath",
		"namespace", "partition", "locality",
	)
	unusedCheckKeys = keySet(
		"token", "dockercontainerid", "shell",
		"osservice", "outputmaxsize",
		"namespace", "partition",
	)
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

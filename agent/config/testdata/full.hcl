datacenter         = "East-1"
data_dir           = "DATADIR"
node_name          = "node-a"
node_id            = "0B1D0C2E-6F4A-4B8C-9D2E-1F3A5B7C9D0E"
server             = true
bootstrap_expect   = 3
bind_addr          = "10.0.0.10"
advertise_addr     = "10.0.0.11"
advertise_addr_wan = "203.0.113.7"
client_addr        = "0.0.0.0"

ports {
  http     = 18500
  dns      = -1
  server   = 18300
  serf_lan = 18301
  serf_wan = 18302
  https    = -1
  grpc     = 8502
}

retry_join              = ["10.0.0.1", "10.0.0.2"]
start_join              = ["10.0.0.3"]
retry_join_wan          = ["198.51.100.1"]
start_join_wan          = ["198.51.100.2"]
retry_interval          = "15s"
retry_max               = 5
rejoin_after_leave      = true
leave_on_terminate      = true
skip_leave_on_interrupt = false
log_level               = "WARN"
log_json                = true

ui_config {
  enabled      = true
  content_path = "/ui/"
}

pid_file                   = "/run/meridian.pid"
encrypt                    = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
enable_script_checks       = false
enable_local_script_checks = true

node_meta {
  rack = "r1"
  zone = "z-2"
}

raft_protocol = 3

limits {
  kv_max_value_size         = 1048576
  txn_max_req_len           = 65536
  txn_max_ops               = 64
  http_max_conns_per_client = 50
  rpc_rate                  = 100
}

performance {
  rpc_hold_timeout = "9s"
  raft_multiplier  = 2
}

disable_kv_key_validation = true
default_query_time        = "2m"
max_query_time            = "4m"
check_update_interval     = "1m"
session_ttl_min           = "5s"
reconnect_timeout         = "24h"
domain                    = "Meridian"
recursors                 = ["8.8.8.8", "[2001:db8::53]:5353"]

service {
  name                = "web"
  port                = 80
  meta {
    version = "2"
  }
  enable_tag_override = true
  weights {
    passing = 10
  }
  check {
    tcp      = "localhost:80"
    interval = "5s"
  }
  checks = [
    {
      args     = ["/bin/check", "-q"]
      interval = "30s"
      timeout  = "2s"
      status   = "passing"
    }
  ]
}

services = [
  {
    ID   = "db1"
    Name = "db"
    Port = 5432
    Tags = ["primary", "v15"]
    Check {
      TTL                            = "30s"
      DeregisterCriticalServiceAfter = "90m"
      Notes                          = "heartbeat"
    }
  }
]

check {
  id                       = "mem"
  name                     = "Memory"
  grpc                     = "localhost:9090/health"
  grpc_use_tls             = true
  interval                 = "10s"
  success_before_passing   = 2
  failures_before_critical = 3
  failures_before_warning  = 1
}

checks = [
  {
    id              = "api"
    name            = "API"
    service_id      = "web"
    http            = "https://localhost/health"
    header {
      X-Token = ["a", "b"]
    }
    method          = "post"
    body            = "{}"
    tls_skip_verify = true
    tls_server_name = "api.local"
    interval        = "20s"
    timeout         = "3s"
    token           = "secret"
  }
]

watches = [
  {
    type       = "key"
    key        = "cfg/x"
    args       = ["/bin/handler"]
    datacenter = "east-1"
    limit      = 3
  }
]

telemetry {
  prometheus_retention_time = "60s"
}

acl {
  enabled = false
}

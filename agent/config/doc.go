// Package config turns the agent's command line and its Consul-style
// configuration files (JSON and HCL) into one validated runtime [Config]:
// defaults, then the -dev profile, then every -config-file/-config-dir
// source in command-line order, then the flags, then -hcl fragments; later
// sources override earlier scalars and append to lists. It accepts Consul's
// flag names and config keys, rejects unknown keys, and reports Consul keys
// Meridian does not use yet as warnings. The only file it writes is
// <data-dir>/node-id. It imports only the standard library and
// github.com/hashicorp/hcl (v1); it must not import other Meridian packages
// or any network library, and its only contact with the network is parsing
// addresses and listing the host's interface addresses.
package config

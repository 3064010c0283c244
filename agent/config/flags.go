package config

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// flagSource is what the command line says: a partial for the config
// values plus the flags that steer loading itself.
type flagSource struct {
	p           partial
	dev         bool
	secure      bool
	configPaths []string // -config-file and -config-dir, in order
	hcl         []string // -hcl fragments, in order
	warnings    []string // one per given flag Meridian does not act on
}

const usageHeader = `Usage: meridian agent [options]

  Starts the Meridian agent and runs until an interrupt is received. The
  agent represents a single node in a cluster. Flags use Consul's names;
  they override config files and append to their lists.

Options:

`

// FlagSet returns the agent's flag set (bound to throwaway values) whose
// Usage prints the help text to output; for `meridian agent -h` and docs.
func FlagSet(output io.Writer) *flag.FlagSet {
	return newFlagSet(&flagSource{}, output)
}

// Usage returns the agent's help text.
func Usage() string {
	var b strings.Builder
	FlagSet(&b).Usage()
	return b.String()
}

func newFlagSet(s *flagSource, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	p := &s.p
	str := func(dst **string, name, usage string) { fs.Var(stringFlag{dst}, name, usage) }
	boolean := func(dst **bool, name, usage string) { fs.Var(boolFlag{dst}, name, usage) }
	integer := func(dst **int, name, usage string) { fs.Var(intFlag{dst}, name, usage) }
	duration := func(dst **time.Duration, name, usage string) { fs.Var(durationFlag{dst}, name, usage) }
	list := func(dst *[]string, name, usage string) { fs.Var(listFlag{dst}, name, usage) }

	fs.BoolVar(&s.dev, "dev", false, "Starts the agent in development mode: an in-memory server on 127.0.0.1 with debug logs, the web console and /debug/pprof/ on.")
	fs.BoolVar(&s.secure, "secure", false, "Local trial of a secured server: ACLs with default deny, TLS on RPC, Raft and HTTPS (port 8501; plain HTTP off) and gossip encryption, with a CA, certificates, a gossip key and a management token generated in the data dir when absent.")
	boolean(&p.Server, "server", "Switches the agent to server mode.")
	boolean(&p.Bootstrap, "bootstrap", "Sets server to bootstrap mode (elects itself leader).")
	integer(&p.BootstrapExpect, "bootstrap-expect", "Sets server to expect `n` servers in the datacenter before bootstrapping.")
	str(&p.Datacenter, "datacenter", "Datacenter `name` of the agent (default \"dc1\").")
	str(&p.Datacenter, "dc", "Alias of -datacenter `name`.")
	str(&p.NodeName, "node", "Node `name`; must be unique in the cluster (default: host name).")
	str(&p.NodeID, "node-id", "A unique `uuid` for this node across all time (default: read or generated in the data dir).")
	str(&p.DataDir, "data-dir", "Path to a data `directory` to store agent state.")
	str(&p.BindAddr, "bind", "Sets the bind `address` for cluster communication: an IP or a go-sockaddr template that resolves to one (default \"0.0.0.0\").")
	str(&p.AdvertiseAddr, "advertise", "Sets the `address` to advertise on the LAN (default: bind address).")
	str(&p.AdvertiseAddrWAN, "advertise-wan", "Sets the `address` a server advertises in the WAN pool, also the node's \"wan\" tagged address (default: advertise address).")
	str(&p.ClientAddr, "client", "Sets the `addresses` the HTTP API and DNS bind to: a space-separated list or a go-sockaddr template such as '{{ GetPrivateIP }}' (default \"127.0.0.1\").")
	integer(&p.Ports.HTTP, "http-port", "Sets the HTTP API `port` to listen on; -1 disables (default 8500).")
	integer(&p.Ports.HTTPS, "https-port", "Sets the HTTPS API `port` to listen on (needs a certificate in the tls block); -1 disables (default -1, 8501 with -secure).")
	integer(&p.Ports.DNS, "dns-port", "DNS `port` to listen on, UDP and TCP; -1 disables (default 8600).")
	integer(&p.Ports.Server, "server-port", "Sets the server RPC `port` to listen on (default 8300).")
	integer(&p.Ports.SerfLAN, "serf-lan-port", "Sets the Serf LAN `port` to listen on (default 8301).")
	integer(&p.Ports.SerfWAN, "serf-wan-port", "Sets the Serf WAN `port` servers listen on; -1 disables (default 8302).")
	list(&p.StartJoin, "join", "Joins the agent at `address` at start time. Can be specified multiple times.")
	list(&p.RetryJoin, "retry-join", "Joins the agent at `address` at start time, retrying until it succeeds. Can be specified multiple times.")
	list(&p.StartJoinWAN, "join-wan", "Joins a server to the WAN pool at `address` at start time. Can be specified multiple times.")
	list(&p.RetryJoinWAN, "retry-join-wan", "Joins a server to the WAN pool at `address` at start time, retrying until it succeeds. Can be specified multiple times.")
	duration(&p.RetryIntervalWAN, "retry-interval-wan", "Wait `duration` between WAN join attempts (default 30s).")
	duration(&p.RetryInterval, "retry-interval", "Wait `duration` between join attempts (default 30s).")
	integer(&p.RetryMax, "retry-max", "Maximum `number` of join attempts; 0 retries forever (default 0).")
	list(&s.configPaths, "config-file", "Path to a JSON or HCL `file` to read configuration from. Can be specified multiple times.")
	list(&s.configPaths, "config-dir", "Path to a `directory` whose .json and .hcl files are read in lexical order. Can be specified multiple times.")
	list(&s.hcl, "hcl", "HCL configuration `fragment`, applied after the other flags. Can be specified multiple times.")
	str(&p.LogLevel, "log-level", "Log `level` of the agent: trace, debug, info, warn, error (default \"info\", \"debug\" with -dev).")
	boolean(&p.LogJSON, "log-json", "Output logs in JSON format.")
	str(&p.LogFile, "log-file", "Also writes the logs to `path` (a path ending in / is a directory that gets meridian.log), rotated as -log-rotate-* say.")
	integer(&p.LogRotateBytes, "log-rotate-bytes", "Rotates the log file before it would grow past `bytes`; 0 never rotates by size (default 0).")
	duration(&p.LogRotateDuration, "log-rotate-duration", "Rotates the log file once it is `duration` old; 0 never rotates by age (default 24h0m0s).")
	integer(&p.LogRotateMaxFiles, "log-rotate-max-files", "Keeps at most `n` rotated log files; 0 keeps all, -1 none (default 0).")
	boolean(&p.EnableSyslog, "syslog", "Also sends the logs to the local syslog (facility syslog_facility, default LOCAL0); without one, warns and logs to standard error only.")
	boolean(&p.UI, "ui", "Serves the web console under /ui/ (on with -dev); / then redirects there.")
	str(&p.UIDir, "ui-dir", "Serves the web console from `directory` instead of the built-in copy (turns the console on, as in Consul).")
	boolean(&p.EnableDebug, "enable-debug", "Serves Go runtime profiles under /debug/pprof/ (on with -dev).")
	boolean(&p.EnableScriptChecks, "enable-script-checks", "Enables health check scripts from any source.")
	boolean(&p.EnableLocalScriptChecks, "enable-local-script-checks", "Enables health check scripts from config files only.")
	fs.Var(metaFlag{&p.NodeMeta}, "node-meta", "Arbitrary metadata `key:value` pair for this node. Can be specified multiple times.")
	str(&p.Domain, "domain", "DNS `domain` to answer for (default \"consul.\").")
	str(&p.AltDomain, "alt-domain", "Alternate DNS `domain` answered like -domain.")
	list(&p.Recursors, "recursor", "Upstream DNS server `address` (ip or ip:port) for names outside the domain. Can be specified multiple times.")
	duration(&p.DefaultQueryTime, "default-query-time", "Wait `duration` of a blocking query that names none (default 5m0s).")
	duration(&p.MaxQueryTime, "max-query-time", "Maximum wait `duration` of a blocking query (default 10m0s).")
	integer(&p.RaftProtocol, "raft-protocol", "Sets the Raft protocol `version`; only 3 is supported (default 3).")
	str(&p.PidFile, "pid-file", "Path to a `file` to store the agent PID.")
	str(&p.Encrypt, "encrypt", "Base64 gossip encryption `key` (16, 24 or 32 bytes).")
	return fs
}

// parseFlags parses the agent's arguments (without the "agent" word). For
// -h/-help it writes the usage text to help and returns flag.ErrHelp;
// other flag errors are returned, not printed.
func parseFlags(args []string, help io.Writer) (*flagSource, error) {
	s := &flagSource{}
	fs := newFlagSet(s, io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(help)
			fs.Usage()
			return nil, err
		}
		return nil, invalid(err)
	}
	if fs.NArg() > 0 {
		return nil, invalidf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if why, ok := ignoredFlags[f.Name]; ok {
			s.warnings = append(s.warnings, fmt.Sprintf("flag -%s is accepted but not acted on: %s", f.Name, why))
		}
	})
	return s, nil
}

// The flag.Value types below record a flag into the partial only when it
// is given, so an absent flag never overrides a config file.

type stringFlag struct{ dst **string }

func (f stringFlag) Set(v string) error { *f.dst = &v; return nil }
func (f stringFlag) String() string {
	if f.dst == nil || *f.dst == nil {
		return ""
	}
	return **f.dst
}

type boolFlag struct{ dst **bool }

func (f boolFlag) IsBoolFlag() bool { return true }
func (f boolFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("expected true or false")
	}
	*f.dst = &b
	return nil
}
func (f boolFlag) String() string {
	if f.dst == nil || *f.dst == nil {
		return ""
	}
	return strconv.FormatBool(**f.dst)
}

type intFlag struct{ dst **int }

func (f intFlag) Set(v string) error {
	n, err := parseInt(v)
	if err != nil {
		return err
	}
	*f.dst = &n
	return nil
}
func (f intFlag) String() string {
	if f.dst == nil || *f.dst == nil {
		return ""
	}
	return strconv.Itoa(**f.dst)
}

type durationFlag struct{ dst **time.Duration }

func (f durationFlag) Set(v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	*f.dst = &d
	return nil
}
func (f durationFlag) String() string {
	if f.dst == nil || *f.dst == nil {
		return ""
	}
	return (**f.dst).String()
}

// listFlag appends every occurrence of a repeatable flag.
type listFlag struct{ dst *[]string }

func (f listFlag) Set(v string) error { *f.dst = append(*f.dst, v); return nil }
func (f listFlag) String() string {
	if f.dst == nil {
		return ""
	}
	return strings.Join(*f.dst, ",")
}

// metaFlag collects -node-meta key:value pairs; like Consul, a pair
// without a colon is a key with an empty value.
type metaFlag struct{ dst *map[string]string }

func (f metaFlag) Set(v string) error {
	key, value, _ := strings.Cut(v, ":")
	if *f.dst == nil {
		*f.dst = map[string]string{}
	}
	(*f.dst)[key] = value
	return nil
}
func (f metaFlag) String() string {
	if f.dst == nil {
		return ""
	}
	pairs := make([]string, 0, len(*f.dst))
	for k, v := range *f.dst {
		pairs = append(pairs, k+":"+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

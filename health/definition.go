package health

import (
	"errors"
	"time"
)

// Check statuses (Consul's api.HealthPassing and friends).
const (
	StatusPassing  = "passing"
	StatusWarning  = "warning"
	StatusCritical = "critical"
)

// Check types as shown in HealthCheck.Type.
const (
	TypeHTTP        = "http"
	TypeTCP         = "tcp"
	TypeUDP         = "udp"
	TypeGRPC        = "grpc"
	TypeTTL         = "ttl"
	TypeScript      = "script"
	TypeAlias       = "alias"
	TypeH2Ping      = "h2ping"
	TypeMaintenance = "maintenance"
)

// Limits and defaults of check runners (Consul's values).
const (
	// MinInterval is the shortest check interval; lower ones are raised.
	MinInterval = time.Second
	// DefaultAliasInterval is how often an alias check of another node
	// reads that node's checks from the catalog (one of the local node
	// follows the agent's state as it changes).
	DefaultAliasInterval = 10 * time.Second
	// DefaultTimeout bounds HTTP, TCP, UDP and gRPC checks.
	DefaultTimeout = 10 * time.Second
	// DefaultScriptTimeout bounds script checks.
	DefaultScriptTimeout = 30 * time.Second
	// DefaultOutputMaxSize caps a check's output in bytes.
	DefaultOutputMaxSize = 4096
	// MinDeregisterCriticalServiceAfter is the shortest
	// DeregisterCriticalServiceAfter; lower ones are raised.
	MinDeregisterCriticalServiceAfter = time.Minute
)

// Source tells where a check definition came from; script checks are
// allowed per source.
type Source int

const (
	// SourceRemote is the HTTP API (and anything not from a config file).
	SourceRemote Source = iota
	// SourceLocal is the agent's configuration files.
	SourceLocal
)

// Errors of check definitions and of the local state. The messages of the
// errors returned are Consul's; match them with errors.Is.
var (
	// ErrInvalidCheck is wrapped by every check definition error whose text
	// the HTTP API shows after "Invalid check: ".
	ErrInvalidCheck = errors.New("invalid check")
	// ErrInvalidStatus is returned for a status other than passing,
	// warning or critical.
	ErrInvalidStatus = errors.New("Status for checks must 'passing', 'warning', 'critical'")
	// ErrScriptChecksDisabled is wrapped when a script check is registered
	// without enable_script_checks (or enable_local_script_checks for a
	// config file).
	ErrScriptChecksDisabled = errors.New("script checks are disabled")
	// ErrMissingCheckName is returned for a check registered without a name.
	ErrMissingCheckName = errors.New("Missing check name")
	// ErrMissingServiceName is returned for a service without a name.
	ErrMissingServiceName = errors.New("Missing service name")
	// ErrUnknownService is wrapped when a service ID is not registered.
	ErrUnknownService = errors.New("unknown service")
	// ErrUnknownCheck is wrapped when a check ID is not registered.
	ErrUnknownCheck = errors.New("unknown check")
	// ErrNotTTLCheck is wrapped when a TTL update names a check that is not
	// a TTL check.
	ErrNotTTLCheck = errors.New("not a TTL check")
)

// definitionError carries Consul's message for an invalid definition while
// matching ErrInvalidCheck.
type definitionError string

func (e definitionError) Error() string { return string(e) }
func (e definitionError) Unwrap() error { return ErrInvalidCheck }

// scriptError carries Consul's message for a refused script check while
// matching ErrScriptChecksDisabled.
type scriptError string

func (e scriptError) Error() string { return string(e) }
func (e scriptError) Unwrap() error { return ErrScriptChecksDisabled }

// CheckDefinition is a check as users write it: Consul's
// AgentCheckRegistration / AgentServiceCheck with durations parsed. Exactly
// one of ScriptArgs, HTTP, TCP, UDP, GRPC and TTL selects the type.
type CheckDefinition struct {
	// ID defaults to Name for node checks and to service:<id>[:n] for the
	// checks of a service registration.
	ID        string
	Name      string
	Notes     string
	ServiceID string
	// Status is the initial status: passing, warning, critical or ""
	// (critical).
	Status string

	ScriptArgs []string

	HTTP             string
	Header           map[string][]string
	Method           string
	Body             string
	DisableRedirects bool

	TCP       string
	TCPUseTLS bool

	UDP string

	GRPC       string
	GRPCUseTLS bool

	// H2PING is the address an H2PING check sends an HTTP/2 PING to;
	// H2PingUseTLS speaks TLS there (Consul's default), else cleartext
	// HTTP/2 (h2c).
	H2PING       string
	H2PingUseTLS bool

	TLSServerName string
	TLSSkipVerify bool

	// AliasService and AliasNode make an alias check: it mirrors the
	// health of the service AliasService (with its node's checks) on
	// AliasNode, the local node when empty; with AliasService empty, that
	// of AliasNode's node checks.
	AliasNode    string
	AliasService string

	Interval time.Duration
	Timeout  time.Duration
	TTL      time.Duration

	SuccessBeforePassing   int
	FailuresBeforeWarning  int
	FailuresBeforeCritical int

	// DeregisterCriticalServiceAfter, when > 0, removes the check's service
	// once the check has been critical that long (minimum one minute).
	DeregisterCriticalServiceAfter time.Duration
}

// Type returns the check type (TypeHTTP, ...), "" when no type field is
// set. With several set, the first of script, HTTP, TCP, UDP, gRPC,
// H2PING, TTL, alias wins; Validate rejects that case.
func (d *CheckDefinition) Type() string {
	switch {
	case len(d.ScriptArgs) > 0:
		return TypeScript
	case d.HTTP != "":
		return TypeHTTP
	case d.TCP != "":
		return TypeTCP
	case d.UDP != "":
		return TypeUDP
	case d.GRPC != "":
		return TypeGRPC
	case d.H2PING != "":
		return TypeH2Ping
	case d.TTL != 0:
		return TypeTTL
	case d.AliasService != "" || d.AliasNode != "":
		return TypeAlias
	}
	return ""
}

func (d *CheckDefinition) typeCount() int {
	n := 0
	for _, set := range []bool{len(d.ScriptArgs) > 0, d.HTTP != "", d.TCP != "", d.UDP != "", d.GRPC != "", d.H2PING != "", d.TTL != 0,
		d.AliasService != "" || d.AliasNode != ""} {
		if set {
			n++
		}
	}
	return n
}

// ValidStatus reports whether s is passing, warning or critical.
func ValidStatus(s string) bool {
	return s == StatusPassing || s == StatusWarning || s == StatusCritical
}

// Validate checks d as Consul does (CheckType.Validate plus the status
// rule) and reports the first problem. Definition errors match
// ErrInvalidCheck and read as Consul's message ("Interval must be > 0 for
// Script, HTTP, H2PING, TCP, UDP or OSService checks"); a bad status is
// ErrInvalidStatus.
func (d *CheckDefinition) Validate() error {
	if d.Status != "" && !ValidStatus(d.Status) {
		return ErrInvalidStatus
	}
	if d.typeCount() > 1 {
		return definitionError("Only one of ScriptArgs, HTTP, TCP, UDP, GRPC, H2PING, TTL or an alias may be set")
	}
	typ := d.Type()
	intervalCheck := typ != "" && typ != TypeTTL && typ != TypeAlias
	switch {
	case d.Interval < 0:
		return definitionError("Interval must not be negative")
	case d.Timeout < 0:
		return definitionError("Timeout must not be negative")
	case d.DeregisterCriticalServiceAfter < 0:
		return definitionError("DeregisterCriticalServiceAfter must not be negative")
	case d.Interval > 0 && d.TTL > 0:
		return definitionError("Interval and TTL cannot both be specified")
	case intervalCheck && d.Interval <= 0:
		return definitionError("Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks")
	case !intervalCheck && typ != TypeAlias && d.TTL <= 0:
		return definitionError("TTL must be > 0 for TTL checks")
	case d.SuccessBeforePassing < 0 || d.FailuresBeforeWarning < 0 || d.FailuresBeforeCritical < 0:
		return definitionError("SuccessBeforePassing, FailuresBeforeWarning and FailuresBeforeCritical must not be negative")
	case d.FailuresBeforeWarning > d.FailuresBeforeCritical:
		return definitionError("FailuresBeforeWarning can't be higher than FailuresBeforeCritical")
	}
	return nil
}

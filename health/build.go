package health

import (
	"fmt"
	"slices"
	"time"

	"github.com/meridian-io/meridian/pb"
)

// BuildOptions tells BuildCheck who registers a check and what the agent
// allows.
type BuildOptions struct {
	// NodeName fills HealthCheck.Node.
	NodeName string
	// Service is the service the check belongs to, nil for a node check.
	// It fills ServiceID, ServiceName and ServiceTags.
	Service *pb.Service
	// Source is where the definition came from.
	Source Source
	// EnableScriptChecks allows script checks from any source;
	// EnableLocalScriptChecks allows them from config files only.
	EnableScriptChecks      bool
	EnableLocalScriptChecks bool
	// OutputMaxSize caps check output (DefaultOutputMaxSize when <= 0).
	OutputMaxSize int
}

// CheckSpec is how a check runs: its definition with the defaults applied
// (interval clamped to MinInterval, timeout and thresholds defaulted,
// DeregisterCriticalServiceAfter raised to its minimum).
type CheckSpec struct {
	CheckDefinition
	// Type is the check type (TypeHTTP, ...).
	Type string
	// OutputMaxSize caps the output in bytes.
	OutputMaxSize int
}

// ServiceCheckDefaults returns copies of the checks of a service
// registration with Consul's defaults: ServiceID set to serviceID, an empty
// ID becomes "service:<serviceID>" (one check) or "service:<serviceID>:<n>"
// (n from 1, several checks), an empty Name becomes "Service '<name>'
// check".
func ServiceCheckDefaults(serviceID, serviceName string, defs []CheckDefinition) []CheckDefinition {
	out := make([]CheckDefinition, len(defs))
	for i, d := range defs {
		d.ServiceID = serviceID
		if d.ID == "" {
			d.ID = "service:" + serviceID
			if len(defs) > 1 {
				d.ID += fmt.Sprintf(":%d", i+1)
			}
		}
		if d.Name == "" {
			d.Name = fmt.Sprintf("Service '%s' check", serviceName)
		}
		out[i] = d
	}
	return out
}

// BuildCheck validates def and returns the check's catalog row (initial
// status critical unless def.Status says otherwise) and the spec its runner
// is built from. An empty ID defaults to the name; a missing name is
// ErrMissingCheckName. A script check is refused with an error matching
// ErrScriptChecksDisabled unless opts allow it for opts.Source.
func BuildCheck(def CheckDefinition, opts BuildOptions) (*pb.HealthCheck, *CheckSpec, error) {
	if def.Name == "" {
		return nil, nil, ErrMissingCheckName
	}
	if err := def.Validate(); err != nil {
		return nil, nil, err
	}
	if def.ID == "" {
		def.ID = def.Name
	}
	typ := def.Type()
	if typ == TypeScript && !opts.EnableScriptChecks {
		if opts.Source != SourceLocal {
			return nil, nil, scriptError("Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true")
		}
		if !opts.EnableLocalScriptChecks {
			return nil, nil, scriptError("Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true")
		}
	}
	if opts.Service != nil {
		def.ServiceID = opts.Service.GetId()
	}

	spec := &CheckSpec{CheckDefinition: cloneDefinition(def), Type: typ, OutputMaxSize: opts.OutputMaxSize}
	if spec.OutputMaxSize <= 0 {
		spec.OutputMaxSize = DefaultOutputMaxSize
	}
	if typ == TypeAlias && spec.Interval == 0 {
		spec.Interval = DefaultAliasInterval
	}
	if typ != TypeTTL && spec.Interval < MinInterval {
		spec.Interval = MinInterval
	}
	if spec.Timeout == 0 {
		spec.Timeout = DefaultTimeout
		if typ == TypeScript {
			spec.Timeout = DefaultScriptTimeout
		}
	}
	if spec.FailuresBeforeWarning == 0 {
		spec.FailuresBeforeWarning = spec.FailuresBeforeCritical
	}
	if opts.Service == nil {
		spec.DeregisterCriticalServiceAfter = 0
	} else if d := spec.DeregisterCriticalServiceAfter; d > 0 && d < MinDeregisterCriticalServiceAfter {
		spec.DeregisterCriticalServiceAfter = MinDeregisterCriticalServiceAfter
	}

	status := def.Status
	if status == "" {
		status = StatusCritical
	}
	hc := &pb.HealthCheck{
		Node:       opts.NodeName,
		CheckId:    def.ID,
		Name:       def.Name,
		Status:     status,
		Notes:      def.Notes,
		Type:       typ,
		Definition: def.Proto(),
	}
	hc.Definition.IntervalNanos = int64(spec.Interval)
	if opts.Service != nil {
		hc.ServiceId = opts.Service.GetId()
		hc.ServiceName = opts.Service.GetService()
		hc.ServiceTags = slices.Clone(opts.Service.GetTags())
	}
	return hc, spec, nil
}

func cloneDefinition(d CheckDefinition) CheckDefinition {
	d.ScriptArgs = slices.Clone(d.ScriptArgs)
	if d.Header != nil {
		h := make(map[string][]string, len(d.Header))
		for k, v := range d.Header {
			h[k] = slices.Clone(v)
		}
		d.Header = h
	}
	return d
}

// Proto returns the definition as carried in HealthCheck.Definition.
func (d *CheckDefinition) Proto() *pb.CheckDefinition {
	out := &pb.CheckDefinition{
		Http:                                d.HTTP,
		Method:                              d.Method,
		Body:                                d.Body,
		TlsServerName:                       d.TLSServerName,
		TlsSkipVerify:                       d.TLSSkipVerify,
		Tcp:                                 d.TCP,
		TcpUseTls:                           d.TCPUseTLS,
		Grpc:                                d.GRPC,
		GrpcUseTls:                          d.GRPCUseTLS,
		ScriptArgs:                          slices.Clone(d.ScriptArgs),
		IntervalNanos:                       int64(d.Interval),
		TimeoutNanos:                        int64(d.Timeout),
		TtlNanos:                            int64(d.TTL),
		DeregisterCriticalServiceAfterNanos: int64(d.DeregisterCriticalServiceAfter),
		SuccessBeforePassing:                int32(d.SuccessBeforePassing),
		FailuresBeforeWarning:               int32(d.FailuresBeforeWarning),
		FailuresBeforeCritical:              int32(d.FailuresBeforeCritical),
		DisableRedirects:                    d.DisableRedirects,
		Udp:                                 d.UDP,
		AliasNode:                           d.AliasNode,
		AliasService:                        d.AliasService,
		H2Ping:                              d.H2PING,
		H2PingUseTls:                        d.H2PingUseTLS,
	}
	if len(d.Header) > 0 {
		out.Header = make(map[string]*pb.HeaderValues, len(d.Header))
		for k, v := range d.Header {
			out.Header[k] = &pb.HeaderValues{Values: slices.Clone(v)}
		}
	}
	return out
}

// DefinitionFromProto rebuilds the definition of a check row, for example
// one persisted by the agent and restored at start.
func DefinitionFromProto(hc *pb.HealthCheck) CheckDefinition {
	def := hc.GetDefinition()
	d := CheckDefinition{
		ID:                             hc.GetCheckId(),
		Name:                           hc.GetName(),
		Notes:                          hc.GetNotes(),
		ServiceID:                      hc.GetServiceId(),
		Status:                         hc.GetStatus(),
		ScriptArgs:                     slices.Clone(def.GetScriptArgs()),
		HTTP:                           def.GetHttp(),
		Method:                         def.GetMethod(),
		Body:                           def.GetBody(),
		DisableRedirects:               def.GetDisableRedirects(),
		TCP:                            def.GetTcp(),
		TCPUseTLS:                      def.GetTcpUseTls(),
		UDP:                            def.GetUdp(),
		GRPC:                           def.GetGrpc(),
		GRPCUseTLS:                     def.GetGrpcUseTls(),
		TLSServerName:                  def.GetTlsServerName(),
		TLSSkipVerify:                  def.GetTlsSkipVerify(),
		AliasNode:                      def.GetAliasNode(),
		AliasService:                   def.GetAliasService(),
		H2PING:                         def.GetH2Ping(),
		H2PingUseTLS:                   def.GetH2PingUseTls(),
		Interval:                       time.Duration(def.GetIntervalNanos()),
		Timeout:                        time.Duration(def.GetTimeoutNanos()),
		TTL:                            time.Duration(def.GetTtlNanos()),
		SuccessBeforePassing:           int(def.GetSuccessBeforePassing()),
		FailuresBeforeWarning:          int(def.GetFailuresBeforeWarning()),
		FailuresBeforeCritical:         int(def.GetFailuresBeforeCritical()),
		DeregisterCriticalServiceAfter: time.Duration(def.GetDeregisterCriticalServiceAfterNanos()),
	}
	if h := def.GetHeader(); len(h) > 0 {
		d.Header = make(map[string][]string, len(h))
		for k, v := range h {
			d.Header[k] = slices.Clone(v.GetValues())
		}
	}
	return d
}

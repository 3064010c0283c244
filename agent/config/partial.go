package config

import (
	"fmt"
	"reflect"
	"time"
)

// partial is what one source (a file, the flags, an -hcl fragment, the dev
// profile) says. A nil pointer means "not set here"; lists and maps hold
// only this source's entries. Sources are merged in order with merge and
// the result is applied over DefaultConfig by partial.config.
type partial struct {
	Datacenter      *string
	NodeName        *string
	NodeID          *string
	DataDir         *string
	Server          *bool
	Bootstrap       *bool
	BootstrapExpect *int

	BindAddr         *string
	AdvertiseAddr    *string
	AdvertiseAddrWAN *string
	ClientAddr       *string
	Addresses        partialAddresses
	Ports            partialPorts

	RetryJoin            []string
	StartJoin            []string
	RetryJoinWAN         []string
	StartJoinWAN         []string
	RetryInterval        *time.Duration
	RetryIntervalWAN     *time.Duration
	RetryMax             *int
	RejoinAfterLeave     *bool
	LeaveOnTerminate     *bool
	SkipLeaveOnInterrupt *bool

	LogLevel *string
	LogJSON  *bool
	UI       *bool

	EnableSyslog   *bool
	SyslogFacility *string

	LogFile           *string
	LogRotateBytes    *int
	LogRotateDuration *time.Duration
	LogRotateMaxFiles *int
	UIDir             *string
	PidFile           *string
	Encrypt           *string
	DisableKeyring    *bool

	EnableDebug             *bool
	EnableScriptChecks      *bool
	EnableLocalScriptChecks *bool
	NodeMeta                map[string]string
	RaftProtocol            *int
	Limits                  partialLimits
	DisableKVKeyValidation  *bool

	DefaultQueryTime    *time.Duration
	MaxQueryTime        *time.Duration
	CheckUpdateInterval *time.Duration
	SessionTTLMin       *time.Duration
	ReconnectTimeout    *time.Duration

	Domain    *string
	Recursors []string
	AltDomain *string
	DNS       partialDNS
	ACL       partialACL
	TLS       partialTLS
	Secure    *bool
	Primary   *string

	KVReplication partialKVReplication
	Autopilot     partialAutopilot
	RaftLogStore  partialRaftLogStore
	Telemetry     partialTelemetry

	Services []ServiceDefinition
	Checks   []CheckDefinition
	Watches  []map[string]any
}

type partialAddresses struct {
	HTTP, DNS, HTTPS *string
}

type partialPorts struct {
	HTTP, DNS, Server, SerfLAN, SerfWAN, HTTPS *int
}

type partialLimits struct {
	KVMaxValueSize        *int
	TxnMaxReqLen          *int
	TxnMaxOps             *int
	HTTPMaxConnsPerClient *int
	RequestLimits         partialRequestLimits
	RPCHoldTimeout        *time.Duration
	RaftMultiplier        *int
}

type partialRequestLimits struct {
	Mode                *string
	ReadRate, WriteRate *float64
}

// merge folds src into dst: a set pointer in src replaces dst's, lists are
// appended, maps are overlaid key by key, structs are merged field by
// field.
func merge(dst, src *partial) {
	mergeValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func mergeValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		for i := range src.NumField() {
			mergeValue(dst.Field(i), src.Field(i))
		}
	case reflect.Pointer:
		if !src.IsNil() {
			dst.Set(src)
		}
	case reflect.Slice:
		if src.Len() > 0 {
			dst.Set(reflect.AppendSlice(dst, src))
		}
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
		}
		iter := src.MapRange()
		for iter.Next() {
			dst.SetMapIndex(iter.Key(), iter.Value())
		}
	default:
		// Every field of partial is a pointer, slice, map or struct; a new
		// field of another kind is a programming error caught by tests.
		panic(fmt.Sprintf("config: cannot merge field of kind %s", src.Kind()))
	}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// set copies *p into dst when the source set it.
func set[T any](dst *T, p *T) {
	if p != nil {
		*dst = *p
	}
}

// config applies the merged partial over the defaults.
func (p *partial) config() *Config {
	c := DefaultConfig()
	set(&c.Datacenter, p.Datacenter)
	set(&c.NodeName, p.NodeName)
	set(&c.NodeID, p.NodeID)
	set(&c.DataDir, p.DataDir)
	set(&c.Server, p.Server)
	set(&c.Bootstrap, p.Bootstrap)
	set(&c.BootstrapExpect, p.BootstrapExpect)

	set(&c.BindAddr, p.BindAddr)
	set(&c.AdvertiseAddr, p.AdvertiseAddr)
	set(&c.AdvertiseAddrWAN, p.AdvertiseAddrWAN)
	set(&c.ClientAddr, p.ClientAddr)
	set(&c.addressesHTTP, p.Addresses.HTTP)
	set(&c.addressesDNS, p.Addresses.DNS)
	set(&c.addressesHTTPS, p.Addresses.HTTPS)
	set(&c.Ports.HTTPS, p.Ports.HTTPS)
	set(&c.Ports.HTTP, p.Ports.HTTP)
	set(&c.Ports.DNS, p.Ports.DNS)
	set(&c.Ports.Server, p.Ports.Server)
	set(&c.Ports.SerfLAN, p.Ports.SerfLAN)
	set(&c.Ports.SerfWAN, p.Ports.SerfWAN)

	c.RetryJoin = p.RetryJoin
	c.StartJoin = p.StartJoin
	c.RetryJoinWAN = p.RetryJoinWAN
	c.StartJoinWAN = p.StartJoinWAN
	set(&c.RetryInterval, p.RetryInterval)
	set(&c.RetryIntervalWAN, p.RetryIntervalWAN)
	set(&c.RetryMax, p.RetryMax)
	set(&c.RejoinAfterLeave, p.RejoinAfterLeave)
	// Consul's role-dependent defaults: clients leave on SIGTERM and
	// SIGINT, servers on neither.
	c.LeaveOnTerminate = !c.Server
	c.SkipLeaveOnInterrupt = c.Server
	set(&c.LeaveOnTerminate, p.LeaveOnTerminate)
	set(&c.SkipLeaveOnInterrupt, p.SkipLeaveOnInterrupt)

	set(&c.LogLevel, p.LogLevel)
	set(&c.LogJSON, p.LogJSON)
	set(&c.EnableSyslog, p.EnableSyslog)
	set(&c.SyslogFacility, p.SyslogFacility)
	set(&c.LogFile, p.LogFile)
	set(&c.LogRotateBytes, p.LogRotateBytes)
	set(&c.LogRotateDuration, p.LogRotateDuration)
	set(&c.LogRotateMaxFiles, p.LogRotateMaxFiles)
	set(&c.UI, p.UI)
	set(&c.UIDir, p.UIDir)
	set(&c.PidFile, p.PidFile)
	set(&c.Encrypt, p.Encrypt)
	set(&c.DisableKeyringFile, p.DisableKeyring)

	set(&c.EnableDebug, p.EnableDebug)
	set(&c.EnableScriptChecks, p.EnableScriptChecks)
	set(&c.EnableLocalScriptChecks, p.EnableLocalScriptChecks)
	c.NodeMeta = p.NodeMeta
	set(&c.RaftProtocol, p.RaftProtocol)
	set(&c.Limits.KVMaxValueSize, p.Limits.KVMaxValueSize)
	set(&c.Limits.TxnMaxReqLen, p.Limits.TxnMaxReqLen)
	set(&c.Limits.TxnMaxOps, p.Limits.TxnMaxOps)
	set(&c.Limits.HTTPMaxConnsPerClient, p.Limits.HTTPMaxConnsPerClient)
	set(&c.Limits.RequestLimits.Mode, p.Limits.RequestLimits.Mode)
	set(&c.Limits.RequestLimits.ReadRate, p.Limits.RequestLimits.ReadRate)
	set(&c.Limits.RequestLimits.WriteRate, p.Limits.RequestLimits.WriteRate)
	set(&c.Limits.RPCHoldTimeout, p.Limits.RPCHoldTimeout)
	set(&c.Limits.RaftMultiplier, p.Limits.RaftMultiplier)
	set(&c.DisableKVKeyValidation, p.DisableKVKeyValidation)

	set(&c.DefaultQueryTime, p.DefaultQueryTime)
	set(&c.MaxQueryTime, p.MaxQueryTime)
	set(&c.CheckUpdateInterval, p.CheckUpdateInterval)
	set(&c.SessionTTLMin, p.SessionTTLMin)
	set(&c.ReconnectTimeout, p.ReconnectTimeout)

	set(&c.Domain, p.Domain)
	c.Recursors = p.Recursors
	set(&c.AltDomain, p.AltDomain)
	p.DNS.apply(&c.DNS)
	p.ACL.apply(&c.ACL)
	p.TLS.apply(&c.TLS)
	set(&c.Secure, p.Secure)
	set(&c.PrimaryDatacenter, p.Primary)
	p.KVReplication.apply(&c.KVReplication)
	p.Autopilot.apply(&c.Autopilot)
	p.RaftLogStore.apply(&c.RaftLogStore)
	p.Telemetry.apply(&c.Telemetry)
	c.Services = p.Services
	c.Checks = p.Checks
	c.Watches = p.Watches
	return c
}

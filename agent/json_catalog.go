package agent

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/meridian-io/meridian/pb"
)

// The JSON shapes of Consul's catalog and health API. Field names are
// Consul's exactly; empty collections are [] or {}, never null.

type nodeJSON struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

type weightsJSON struct {
	Passing int
	Warning int
}

type serviceAddressJSON struct {
	Address string
	Port    int
}

type agentServiceJSON struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]serviceAddressJSON `json:",omitempty"`
	Weights           weightsJSON
	EnableTagOverride bool
	CreateIndex       uint64 `json:",omitempty"`
	ModifyIndex       uint64 `json:",omitempty"`
	Datacenter        string `json:",omitempty"`
}

type catalogServiceJSON struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string
	ServiceID                string
	ServiceName              string
	ServiceTags              []string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]serviceAddressJSON `json:",omitempty"`
	ServiceWeights           weightsJSON
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

// duration is a check duration: Consul reads "10s" or a number of
// nanoseconds, and writes strings.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = duration(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	*d = duration(v)
	return nil
}

type checkDefinitionJSON struct {
	HTTP          string              `json:",omitempty"`
	Header        map[string][]string `json:",omitempty"`
	Method        string              `json:",omitempty"`
	Body          string              `json:",omitempty"`
	TLSServerName string              `json:",omitempty"`
	TLSSkipVerify bool                `json:",omitempty"`
	TCP           string              `json:",omitempty"`
	TCPUseTLS     bool                `json:",omitempty"`
	UDP           string              `json:",omitempty"`
	GRPC          string              `json:",omitempty"`
	GRPCUseTLS    bool                `json:",omitempty"`
	ScriptArgs    []string            `json:",omitempty"`
	// Zero durations are left out, as Consul's servers encode a check's
	// definition ("Definition":{} for a check registered without one):
	// clients read a missing duration as zero, and a 1,000-instance
	// health answer is 10% smaller and faster to decode for it.
	Interval                       duration `json:",omitempty"`
	Timeout                        duration `json:",omitempty"`
	TTL                            duration `json:",omitempty"`
	DeregisterCriticalServiceAfter duration `json:",omitempty"`
}

type healthCheckJSON struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Definition  checkDefinitionJSON
	CreateIndex uint64
	ModifyIndex uint64
}

type serviceEntryJSON struct {
	Node    nodeJSON
	Service agentServiceJSON
	Checks  []healthCheckJSON
}

func emptyIfNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toNodeJSON(n *pb.Node) nodeJSON {
	return nodeJSON{
		ID: n.Id, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter,
		TaggedAddresses: emptyIfNil(n.TaggedAddresses), Meta: emptyIfNil(n.Meta),
		CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}
}

func weightsOf(w *pb.Weights) weightsJSON {
	if w == nil || (w.Passing == 0 && w.Warning == 0) {
		return weightsJSON{Passing: 1, Warning: 1}
	}
	return weightsJSON{Passing: int(w.Passing), Warning: int(w.Warning)}
}

func serviceAddressesOf(in map[string]*pb.ServiceAddress) map[string]serviceAddressJSON {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]serviceAddressJSON, len(in))
	for k, v := range in {
		out[k] = serviceAddressJSON{Address: v.Address, Port: int(v.Port)}
	}
	return out
}

func toAgentServiceJSON(s *pb.Service, dc string) agentServiceJSON {
	return agentServiceJSON{
		Kind: s.Kind, ID: s.Id, Service: s.Service, Tags: nonNil(s.Tags), Meta: emptyIfNil(s.Meta),
		Port: int(s.Port), Address: s.Address, TaggedAddresses: serviceAddressesOf(s.TaggedAddresses),
		Weights: weightsOf(s.Weights), EnableTagOverride: s.EnableTagOverride,
		CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex, Datacenter: dc,
	}
}

func toCatalogServiceJSON(n *pb.Node, s *pb.Service) catalogServiceJSON {
	return catalogServiceJSON{
		ID: n.Id, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter,
		TaggedAddresses: emptyIfNil(n.TaggedAddresses), NodeMeta: emptyIfNil(n.Meta),
		ServiceKind: s.Kind, ServiceID: s.Id, ServiceName: s.Service, ServiceTags: nonNil(s.Tags),
		ServiceAddress: s.Address, ServiceTaggedAddresses: serviceAddressesOf(s.TaggedAddresses),
		ServiceWeights: weightsOf(s.Weights), ServiceMeta: emptyIfNil(s.Meta), ServicePort: int(s.Port),
		ServiceEnableTagOverride: s.EnableTagOverride, CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex,
	}
}

func toDefinitionJSON(d *pb.CheckDefinition) checkDefinitionJSON {
	if d == nil {
		return checkDefinitionJSON{}
	}
	var header map[string][]string
	if len(d.Header) > 0 {
		header = make(map[string][]string, len(d.Header))
		for k, v := range d.Header {
			header[k] = v.GetValues()
		}
	}
	return checkDefinitionJSON{
		HTTP: d.Http, Header: header, Method: d.Method, Body: d.Body, TLSServerName: d.TlsServerName,
		TLSSkipVerify: d.TlsSkipVerify, TCP: d.Tcp, TCPUseTLS: d.TcpUseTls, UDP: d.Udp, GRPC: d.Grpc,
		GRPCUseTLS: d.GrpcUseTls, ScriptArgs: d.ScriptArgs,
		Interval: duration(d.IntervalNanos), Timeout: duration(d.TimeoutNanos), TTL: duration(d.TtlNanos),
		DeregisterCriticalServiceAfter: duration(d.DeregisterCriticalServiceAfterNanos),
	}
}

func fromDefinitionJSON(d checkDefinitionJSON) *pb.CheckDefinition {
	var header map[string]*pb.HeaderValues
	if len(d.Header) > 0 {
		header = make(map[string]*pb.HeaderValues, len(d.Header))
		for k, v := range d.Header {
			header[k] = &pb.HeaderValues{Values: v}
		}
	}
	return &pb.CheckDefinition{
		Http: d.HTTP, Header: header, Method: d.Method, Body: d.Body, TlsServerName: d.TLSServerName,
		TlsSkipVerify: d.TLSSkipVerify, Tcp: d.TCP, TcpUseTls: d.TCPUseTLS, Udp: d.UDP, Grpc: d.GRPC,
		GrpcUseTls: d.GRPCUseTLS, ScriptArgs: d.ScriptArgs,
		IntervalNanos: int64(d.Interval), TimeoutNanos: int64(d.Timeout), TtlNanos: int64(d.TTL),
		DeregisterCriticalServiceAfterNanos: int64(d.DeregisterCriticalServiceAfter),
	}
}

func toHealthCheckJSON(c *pb.HealthCheck) healthCheckJSON {
	return healthCheckJSON{
		Node: c.Node, CheckID: c.CheckId, Name: c.Name, Status: c.Status, Notes: c.Notes, Output: c.Output,
		ServiceID: c.ServiceId, ServiceName: c.ServiceName, ServiceTags: nonNil(c.ServiceTags), Type: c.Type,
		Definition: toDefinitionJSON(c.Definition), CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
	}
}

func toHealthChecksJSON(cs []*pb.HealthCheck) []healthCheckJSON {
	out := make([]healthCheckJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toHealthCheckJSON(c))
	}
	return out
}

func toDuration(d duration) time.Duration { return time.Duration(d) }

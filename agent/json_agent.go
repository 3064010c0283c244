package agent

import (
	"encoding/json"
	"strings"

	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/pb"
)

// agentCheckJSON is one check as the agent's registration endpoints take
// it (Consul's AgentServiceCheck and AgentCheckRegistration).
type agentCheckJSON struct {
	CheckID    string
	ID         string
	Name       string
	Notes      string
	ServiceID  string
	Status     string
	ScriptArgs []string
	Args       []string

	HTTP             string
	Header           map[string][]string
	Method           string
	Body             string
	DisableRedirects bool
	TCP              string
	TCPUseTLS        bool
	UDP              string
	GRPC             string
	GRPCUseTLS       bool
	TLSServerName    string
	TLSSkipVerify    bool

	Interval                       duration
	Timeout                        duration
	TTL                            duration
	DeregisterCriticalServiceAfter duration
	SuccessBeforePassing           int
	FailuresBeforeWarning          int
	FailuresBeforeCritical         int

	AliasService, AliasNode string
	H2PING                  string
	// H2PingUseTLS is true unless given false (Consul's default).
	H2PingUseTLS *bool

	// Consul check kinds Meridian does not run: a registration naming one
	// is refused with a reason rather than taken for a TTL check.
	OSService, DockerContainerID string
}

// unsupported names the kind of check c asks for that Meridian does not
// run ("" when none).
func (c *agentCheckJSON) unsupported() string {
	switch {
	case c.OSService != "":
		return "OSService"
	case c.DockerContainerID != "":
		return "Docker"
	}
	return ""
}

// unsupportedCheck refuses the first check of checks Meridian does not run.
func unsupportedCheck(checks ...*agentCheckJSON) error {
	for _, c := range checks {
		if c == nil {
			continue
		}
		if kind := c.unsupported(); kind != "" {
			return badRequest("Invalid check: %s checks are not supported by Meridian", kind)
		}
	}
	return nil
}

func (c *agentCheckJSON) definition() health.CheckDefinition {
	id := c.CheckID
	if id == "" {
		id = c.ID
	}
	args := c.ScriptArgs
	if len(args) == 0 {
		args = c.Args
	}
	return health.CheckDefinition{
		ID: id, Name: c.Name, Notes: c.Notes, ServiceID: c.ServiceID, Status: c.Status, ScriptArgs: args,
		HTTP: c.HTTP, Header: c.Header, Method: c.Method, Body: c.Body, DisableRedirects: c.DisableRedirects,
		TCP: c.TCP, TCPUseTLS: c.TCPUseTLS, UDP: c.UDP, GRPC: c.GRPC, GRPCUseTLS: c.GRPCUseTLS,
		TLSServerName: c.TLSServerName, TLSSkipVerify: c.TLSSkipVerify,
		AliasNode: c.AliasNode, AliasService: c.AliasService,
		H2PING: c.H2PING, H2PingUseTLS: c.H2PingUseTLS == nil || *c.H2PingUseTLS,
		Interval: toDuration(c.Interval), Timeout: toDuration(c.Timeout), TTL: toDuration(c.TTL),
		DeregisterCriticalServiceAfter: toDuration(c.DeregisterCriticalServiceAfter),
		SuccessBeforePassing:           c.SuccessBeforePassing, FailuresBeforeWarning: c.FailuresBeforeWarning,
		FailuresBeforeCritical: c.FailuresBeforeCritical,
	}
}

// agentServiceRegJSON is Consul's AgentServiceRegistration.
type agentServiceRegJSON struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Port              int
	Address           string
	Meta              map[string]string
	Weights           *weightsJSON
	EnableTagOverride bool
	TaggedAddresses   map[string]serviceAddressJSON
	Check             *agentCheckJSON
	Checks            []*agentCheckJSON
}

func (s *agentServiceRegJSON) service() *pb.Service {
	in := serviceInJSON{
		Kind: s.Kind, ID: s.ID, Service: s.Name, Tags: s.Tags, Meta: s.Meta, Port: s.Port,
		Address: s.Address, TaggedAddresses: s.TaggedAddresses, Weights: s.Weights,
		EnableTagOverride: s.EnableTagOverride,
	}
	return in.toPB()
}

func (s *agentServiceRegJSON) definitions() []health.CheckDefinition {
	var defs []health.CheckDefinition
	if s.Check != nil {
		defs = append(defs, s.Check.definition())
	}
	for _, c := range s.Checks {
		if c != nil {
			defs = append(defs, c.definition())
		}
	}
	return defs
}

// agentCheckOutJSON is Consul's AgentCheck.
type agentCheckOutJSON struct {
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
	Namespace   string `json:",omitempty"`
}

func toAgentCheckJSON(c *pb.HealthCheck) agentCheckOutJSON {
	return agentCheckOutJSON{
		Node: c.Node, CheckID: c.CheckId, Name: c.Name, Status: c.Status, Notes: c.Notes, Output: c.Output,
		ServiceID: c.ServiceId, ServiceName: c.ServiceName, ServiceTags: nonNil(c.ServiceTags), Type: c.Type,
		Definition: toDefinitionJSON(c.Definition),
	}
}

// userDataKeys are the fields whose keys belong to the user and must not
// be normalised.
var userDataKeys = map[string]bool{"meta": true, "header": true, "taggedaddresses": true, "nodemeta": true}

// normalizeKeys rewrites snake_case keys (tls_skip_verify, script_args,
// deregister_critical_service_after, ...) so encoding/json's
// case-insensitive matching finds Consul's field names, as Consul accepts
// both spellings. Keys inside user data (Meta, Header) are kept.
func normalizeKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			nk := strings.ReplaceAll(k, "_", "")
			if userDataKeys[strings.ToLower(nk)] {
				out[nk] = val
				continue
			}
			out[nk] = normalizeKeys(val)
		}
		return out
	case []any:
		for i := range t {
			t[i] = normalizeKeys(t[i])
		}
		return t
	}
	return v
}

// decodeAgentJSON decodes a registration body with normalised keys.
func decodeAgentJSON(body []byte, v any) error {
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	norm, err := json.Marshal(normalizeKeys(raw))
	if err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	if err := json.Unmarshal(norm, v); err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	return nil
}

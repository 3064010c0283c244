package agent

import (
	"net/http"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// requestToken is the request's token, or the agent's default token
// when it carries none.
func (a *Agent) requestToken(r *http.Request) string {
	if t := requestToken(r); t != "" {
		return t
	}
	return a.tokens.userDefault()
}

// aclLinkJSON is Consul's ACLTokenPolicyLink / ACLTokenRoleLink.
type aclLinkJSON struct {
	ID   string `json:",omitempty"`
	Name string `json:",omitempty"`
}

// aclTokenJSON is Consul's ACLToken (and, without SecretID, its list entry).
type aclTokenJSON struct {
	AccessorID  string
	SecretID    string `json:",omitempty"`
	Description string
	Policies    []aclLinkJSON `json:",omitempty"`
	Roles       []aclLinkJSON `json:",omitempty"`
	Local       bool
	CreateTime  time.Time
	Hash        []byte `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// aclPolicyJSON is Consul's ACLPolicy.
type aclPolicyJSON struct {
	ID          string
	Name        string
	Description string
	Rules       string   `json:",omitempty"`
	Datacenters []string `json:",omitempty"`
	Hash        []byte   `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// aclRoleJSON is Consul's ACLRole.
type aclRoleJSON struct {
	ID          string
	Name        string
	Description string
	Policies    []aclLinkJSON `json:",omitempty"`
	Hash        []byte        `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

func linksJSON(in []*pb.ACLLink) []aclLinkJSON {
	var out []aclLinkJSON
	for _, l := range in {
		out = append(out, aclLinkJSON{ID: l.Id, Name: l.Name})
	}
	return out
}

func linksPB(in []aclLinkJSON) []*pb.ACLLink {
	var out []*pb.ACLLink
	for _, l := range in {
		out = append(out, &pb.ACLLink{Id: l.ID, Name: l.Name})
	}
	return out
}

func toTokenJSON(t *pb.ACLToken, withSecret bool) aclTokenJSON {
	out := aclTokenJSON{
		AccessorID: t.AccessorId, Description: t.Description, Policies: linksJSON(t.Policies), Roles: linksJSON(t.Roles),
		Local: t.Local, Hash: []byte(t.Hash), CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex,
	}
	if t.CreateTimeUnixNano != 0 {
		out.CreateTime = time.Unix(0, t.CreateTimeUnixNano).UTC()
	}
	if withSecret {
		out.SecretID = t.SecretId
	}
	return out
}

func toPolicyJSON(p *pb.ACLPolicy, withRules bool) aclPolicyJSON {
	out := aclPolicyJSON{ID: p.Id, Name: p.Name, Description: p.Description, Datacenters: p.Datacenters,
		CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
	if withRules {
		out.Rules = p.Rules
	}
	return out
}

func toRoleJSON(r *pb.ACLRole) aclRoleJSON {
	return aclRoleJSON{ID: r.Id, Name: r.Name, Description: r.Description, Policies: linksJSON(r.Policies),
		CreateIndex: r.CreateIndex, ModifyIndex: r.ModifyIndex}
}

// aclRoutes are the /v1/acl endpoints; the server checks acl:read or
// acl:write on the token they carry (bootstrap and token/self need none).
func (a *Agent) aclRoutes() []route {
	return []route{
		{"PUT /v1/acl/bootstrap", public("allowed once; the server refuses it afterwards"), a.aclBootstrap},
		{"PUT /v1/acl/token", serverChecked(acl.AccessWrite), a.aclTokenSet},
		{"GET /v1/acl/token/self", public("reads the caller's own token, which the secret already names"), a.aclRead(dc.MethodACLTokenSelf)},
		{"GET /v1/acl/token/{id}", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLTokenGet)},
		{"PUT /v1/acl/token/{id}", serverChecked(acl.AccessWrite), a.aclTokenSet},
		{"DELETE /v1/acl/token/{id}", serverChecked(acl.AccessWrite), a.aclDelete(dc.MethodACLTokenDelete)},
		{"GET /v1/acl/tokens", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLTokenList)},
		{"PUT /v1/acl/policy", serverChecked(acl.AccessWrite), a.aclPolicySet},
		{"GET /v1/acl/policy/name/{name}", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLPolicyGet)},
		{"GET /v1/acl/policy/{id}", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLPolicyGet)},
		{"PUT /v1/acl/policy/{id}", serverChecked(acl.AccessWrite), a.aclPolicySet},
		{"DELETE /v1/acl/policy/{id}", serverChecked(acl.AccessWrite), a.aclDelete(dc.MethodACLPolicyDelete)},
		{"GET /v1/acl/policies", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLPolicyList)},
		{"PUT /v1/acl/role", serverChecked(acl.AccessWrite), a.aclRoleSet},
		{"GET /v1/acl/role/name/{name}", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLRoleGet)},
		{"GET /v1/acl/role/{id}", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLRoleGet)},
		{"PUT /v1/acl/role/{id}", serverChecked(acl.AccessWrite), a.aclRoleSet},
		{"DELETE /v1/acl/role/{id}", serverChecked(acl.AccessWrite), a.aclDelete(dc.MethodACLRoleDelete)},
		{"GET /v1/acl/roles", serverChecked(acl.AccessRead), a.aclRead(dc.MethodACLRoleList)},
		{"GET /v1/acl/replication", public("replication status, as in Consul"), a.aclReplication},
	}
}

// aclReplicationJSON is Consul's ACLReplicationStatus; the times are
// zero (0001-01-01T00:00:00Z) until they happen, as Consul shows them.
type aclReplicationJSON struct {
	Enabled              bool
	Running              bool
	SourceDatacenter     string
	ReplicationType      string
	ReplicatedIndex      uint64
	ReplicatedRoleIndex  uint64
	ReplicatedTokenIndex uint64
	LastSuccess          time.Time
	LastError            time.Time
	LastErrorMessage     string
}

// aclReplication is GET /v1/acl/replication: a secondary datacenter's
// copy of the primary's ACLs, from its leader.
func (a *Agent) aclReplication(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var st pb.ACLReplicationStatus
	if err := a.backend.RPC(r.Context(), dc.MethodACLReplicationStatus, &pb.ACLReplicationStatusRequest{Query: q}, &st); err != nil {
		return nil, err
	}
	setMeta(w, st.Meta)
	out := aclReplicationJSON{Enabled: st.Enabled, Running: st.Running, SourceDatacenter: st.SourceDatacenter,
		ReplicatedIndex: st.ReplicatedIndex, ReplicatedRoleIndex: st.ReplicatedRoleIndex,
		ReplicatedTokenIndex: st.ReplicatedTokenIndex, LastErrorMessage: st.LastErrorMessage}
	if st.Enabled {
		out.ReplicationType = "tokens" // policies, roles and tokens, as Consul's "tokens" type
	}
	if t := unixNanoTime(st.LastSuccessUnixNano); t != nil {
		out.LastSuccess = *t
	}
	if t := unixNanoTime(st.LastErrorUnixNano); t != nil {
		out.LastError = *t
	}
	return out, nil
}

func (a *Agent) aclBootstrap(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.ACLResponse
	if err := a.backend.RPC(r.Context(), dc.MethodACLBootstrap, &pb.ACLRequest{Write: wo}, &resp); err != nil {
		return nil, err
	}
	return toTokenJSON(resp.Tokens[0], true), nil
}

func (a *Agent) aclTokenSet(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var in aclTokenJSON
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	req := &pb.ACLRequest{Write: wo, Id: r.PathValue("id"), Token: &pb.ACLToken{
		AccessorId: in.AccessorID, SecretId: in.SecretID, Description: in.Description, Local: in.Local,
		Policies: linksPB(in.Policies), Roles: linksPB(in.Roles),
	}}
	var resp pb.ACLResponse
	if err := a.backend.RPC(r.Context(), dc.MethodACLTokenSet, req, &resp); err != nil {
		return nil, err
	}
	return toTokenJSON(resp.Tokens[0], true), nil
}

func (a *Agent) aclPolicySet(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var in aclPolicyJSON
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	req := &pb.ACLRequest{Write: wo, Id: r.PathValue("id"), Policy: &pb.ACLPolicy{
		Id: in.ID, Name: in.Name, Description: in.Description, Rules: in.Rules, Datacenters: in.Datacenters,
	}}
	var resp pb.ACLResponse
	if err := a.backend.RPC(r.Context(), dc.MethodACLPolicySet, req, &resp); err != nil {
		return nil, err
	}
	return toPolicyJSON(resp.Policies[0], true), nil
}

func (a *Agent) aclRoleSet(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var in aclRoleJSON
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	req := &pb.ACLRequest{Write: wo, Id: r.PathValue("id"), Role: &pb.ACLRole{
		Id: in.ID, Name: in.Name, Description: in.Description, Policies: linksPB(in.Policies),
	}}
	var resp pb.ACLResponse
	if err := a.backend.RPC(r.Context(), dc.MethodACLRoleSet, req, &resp); err != nil {
		return nil, err
	}
	return toRoleJSON(resp.Roles[0]), nil
}

// aclRead answers the ACL reads: one object, or a list.
func (a *Agent) aclRead(method string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		q, err := a.parseQueryOptions(r)
		if err != nil {
			return nil, err
		}
		req := &pb.ACLRequest{Query: q, Id: r.PathValue("id"), Name: r.PathValue("name")}
		var resp pb.ACLResponse
		if err := a.backend.RPC(r.Context(), method, req, &resp); err != nil {
			return nil, err
		}
		setMeta(w, resp.Meta)
		switch method {
		case dc.MethodACLTokenGet, dc.MethodACLTokenSelf:
			return toTokenJSON(resp.Tokens[0], true), nil
		case dc.MethodACLTokenList:
			// Secrets are listed only to a token that may write ACLs.
			withSecrets := false
			if id, err := a.identity(r); err == nil {
				withSecrets = id.Authorizer.Allowed(acl.ResourceACL, "", acl.AccessWrite)
			}
			out := make([]aclTokenJSON, 0, len(resp.Tokens))
			for _, t := range resp.Tokens {
				out = append(out, toTokenJSON(t, withSecrets))
			}
			return out, nil
		case dc.MethodACLPolicyGet:
			return toPolicyJSON(resp.Policies[0], true), nil
		case dc.MethodACLPolicyList:
			out := make([]aclPolicyJSON, 0, len(resp.Policies))
			for _, p := range resp.Policies {
				out = append(out, toPolicyJSON(p, false))
			}
			return out, nil
		case dc.MethodACLRoleGet:
			return toRoleJSON(resp.Roles[0]), nil
		default:
			out := make([]aclRoleJSON, 0, len(resp.Roles))
			for _, ro := range resp.Roles {
				out = append(out, toRoleJSON(ro))
			}
			return out, nil
		}
	}
}

func (a *Agent) aclDelete(method string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		wo, err := a.writeOptions(r)
		if err != nil {
			return nil, err
		}
		if err := a.backend.RPC(r.Context(), method, &pb.ACLRequest{Write: wo, Id: r.PathValue("id")}, &pb.ACLResponse{}); err != nil {
			return nil, err
		}
		return true, nil
	}
}

package agent

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// sessionEntryJSON is Consul's SessionEntry.
type sessionEntryJSON struct {
	ID            string
	Name          string
	Node          string
	LockDelay     int64
	Behavior      string
	TTL           string
	NodeChecks    []string
	ServiceChecks []serviceCheckJSON
	Checks        []string
	CreateIndex   uint64
	ModifyIndex   uint64
}

type serviceCheckJSON struct {
	ID        string
	Namespace string
}

func toSessionJSON(s *pb.Session) sessionEntryJSON {
	out := sessionEntryJSON{
		ID: s.Id, Name: s.Name, Node: s.Node, LockDelay: s.LockDelayNanos, Behavior: s.Behavior,
		NodeChecks: nonNil(s.NodeChecks), CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex,
	}
	if s.TtlNanos > 0 {
		out.TTL = time.Duration(s.TtlNanos).String()
	}
	out.Checks = append(append([]string{}, s.NodeChecks...), s.ServiceChecks...)
	for _, id := range s.ServiceChecks {
		out.ServiceChecks = append(out.ServiceChecks, serviceCheckJSON{ID: id})
	}
	return out
}

// sessionCreateJSON is the body of /v1/session/create. Nil and empty check
// lists differ: no list at all means "bind to serfHealth".
type sessionCreateJSON struct {
	Name          string
	Node          string
	LockDelay     json.RawMessage
	Behavior      string
	TTL           string
	Checks        []string
	NodeChecks    []string
	ServiceChecks []serviceCheckJSON
}

// parseLockDelay reads a lock delay as Consul does: a duration string, or
// a number (below 1000 it counts seconds, else nanoseconds). Default 15s.
func parseLockDelay(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 15 * time.Second, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 1000 {
		return time.Duration(n) * time.Second, nil
	}
	return time.Duration(n), nil
}

func (a *Agent) sessionCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var in sessionCreateJSON
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, badRequest("Request decode failed: %v", err)
		}
	}
	delay, err := parseLockDelay(in.LockDelay)
	if err != nil {
		return nil, badRequest("Request decode failed: invalid LockDelay %s", in.LockDelay)
	}
	var ttl time.Duration
	if in.TTL != "" {
		if ttl, err = time.ParseDuration(in.TTL); err != nil {
			return nil, badRequest("Request decode failed: invalid TTL %q", in.TTL)
		}
	}
	sess := &pb.Session{
		Name: in.Name, Node: in.Node, Behavior: strings.ToLower(in.Behavior),
		LockDelayNanos: int64(delay), TtlNanos: int64(ttl),
		NodeChecks: append(append([]string(nil), in.Checks...), in.NodeChecks...),
	}
	if sess.Node == "" {
		sess.Node = a.cfg.NodeName
	}
	for _, sc := range in.ServiceChecks {
		sess.ServiceChecks = append(sess.ServiceChecks, sc.ID)
	}
	if err := a.allowed(r, acl.ResourceSession, acl.AccessWrite, sess.Node); err != nil {
		return nil, err
	}
	req := &pb.SessionCreateRequest{
		Write: wo, Session: sess,
		DefaultChecks: in.Checks == nil && in.NodeChecks == nil && in.ServiceChecks == nil,
	}
	var resp pb.SessionCreateResponse
	if err := a.backend.RPC(r.Context(), dc.MethodSessionCreate, req, &resp); err != nil {
		return nil, err
	}
	return map[string]string{"ID": resp.Id}, nil
}

func (a *Agent) sessionDestroy(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	req := &pb.SessionDestroyRequest{Write: wo, Id: r.PathValue("id")}
	if err := a.backend.RPC(r.Context(), dc.MethodSessionDestroy, req, &pb.WriteResponse{}); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) sessionRenew(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.SessionsResponse
	if err := a.backend.RPC(r.Context(), dc.MethodSessionRenew, &pb.SessionRenewRequest{Write: wo, Id: r.PathValue("id")}, &resp); err != nil {
		return nil, err
	}
	return sessionsJSON(resp.Sessions), nil
}

func (a *Agent) sessionRead(w http.ResponseWriter, r *http.Request, req *pb.SessionGetRequest) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	req.Query = q
	var resp pb.SessionsResponse
	if err := a.backend.RPC(r.Context(), dc.MethodSessionGet, req, &resp); err != nil {
		return nil, err
	}
	setMeta(w, resp.Meta)
	return sessionsJSON(resp.Sessions), nil
}

func sessionsJSON(list []*pb.Session) []sessionEntryJSON {
	out := make([]sessionEntryJSON, 0, len(list))
	for _, s := range list {
		out = append(out, toSessionJSON(s))
	}
	return out
}

func (a *Agent) sessionInfo(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.sessionRead(w, r, &pb.SessionGetRequest{Id: r.PathValue("id")})
}

func (a *Agent) sessionNode(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.sessionRead(w, r, &pb.SessionGetRequest{Node: r.PathValue("node")})
}

func (a *Agent) sessionList(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.sessionRead(w, r, &pb.SessionGetRequest{})
}

package agent

import (
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// kvPair is Consul's KVPair JSON.
type kvPair struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	Session     string `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

func toKVPair(e *pb.KVEntry) kvPair {
	return kvPair{
		LockIndex:   e.LockIndex,
		Key:         e.Key,
		Flags:       e.Flags,
		Value:       e.Value,
		Session:     e.Session,
		CreateIndex: e.CreateIndex,
		ModifyIndex: e.ModifyIndex,
	}
}

func (a *Agent) kvGet(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	params := query(r)
	key := kvKey(r)
	_, recurse := params["recurse"]
	_, keysOnly := params["keys"]
	_, raw := params["raw"]
	sep := params.Get("separator")
	if sep == "" {
		sep = params.Get("seperator") // Consul accepts the misspelling too
	}
	if key == "" && !recurse && !keysOnly {
		return nil, badRequest("Missing key name")
	}
	req := &pb.KVGetRequest{Query: q, Key: key, Recurse: recurse, KeysOnly: keysOnly, Separator: sep}
	// The answer may be shared with identical blocking queries (1,000
	// watchers of a key get one): it is only read here, and its JSON is
	// made once for all of them (their requests are the same, token
	// included); an answer this agent filters further is encoded alone.
	answer, memo, err := a.readShared(r.Context(), dc.MethodKVGet, req, func() proto.Message { return new(pb.KVGetResponse) })
	if err != nil {
		return nil, err
	}
	resp := answer.(*pb.KVGetResponse)
	setMeta(w, resp.Meta)
	keys, entries := resp.Keys, resp.Entries
	if recurse || keysOnly {
		id, err := a.identity(r)
		if err != nil {
			return nil, err
		}
		var f1, f2 bool
		keys, f1 = filterSlice(keys, func(k string) bool { return id.Authorizer.Allowed(acl.ResourceKey, k, acl.AccessRead) })
		entries, f2 = filterSlice(entries, func(e *pb.KVEntry) bool {
			return id.Authorizer.Allowed(acl.ResourceKey, e.Key, acl.AccessRead)
		})
		if f1 || f2 || resp.Meta.GetResultsFilteredByAcls() {
			w.Header().Set(headerFilteredByACLs, "true")
		}
		if f1 || f2 {
			memo = nil // what this agent left out is this caller's own
		}
	}
	if _, pretty := params["pretty"]; pretty {
		memo = nil // indented for this caller alone
	}
	if keysOnly {
		if len(keys) == 0 && key != "" {
			w.WriteHeader(http.StatusNotFound)
			return nil, nil
		}
		if keys == nil {
			keys = []string{}
		}
		return encodeOnce(memo, func() any { return keys }), nil
	}
	if len(entries) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	if raw && !recurse {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		w.Write(entries[0].Value)
		return nil, nil
	}
	return encodeOnce(memo, func() any {
		out := make([]kvPair, len(entries))
		for i, e := range entries {
			out[i] = toKVPair(e)
		}
		return out
	}), nil
}

func (a *Agent) kvPut(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	params := query(r)
	key := kvKey(r)
	if key == "" {
		return nil, badRequest("Missing key name")
	}
	if conflicts := conflictingFlags(params, "cas", "acquire", "release"); conflicts != "" {
		return nil, badRequest("Conflicting flags: %s", conflicts)
	}
	entry := &pb.KVEntry{Key: key}
	if v := params.Get("flags"); v != "" {
		if entry.Flags, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, badRequest("Invalid flags: %q", v)
		}
	}
	op := &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: entry}
	if _, ok := params["cas"]; ok {
		if entry.ModifyIndex, err = strconv.ParseUint(params.Get("cas"), 10, 64); err != nil {
			return nil, badRequest("Invalid cas index: %q", params.Get("cas"))
		}
		op.Verb = pb.KVVerb_KV_CAS
	}
	if s := params.Get("acquire"); s != "" {
		op.Verb, entry.Session = pb.KVVerb_KV_LOCK, s
	}
	if s := params.Get("release"); s != "" {
		op.Verb, entry.Session = pb.KVVerb_KV_UNLOCK, s
	}
	if entry.Value, err = readBody(r, a.cfg.Limits.KVMaxValueSize); err != nil {
		return nil, err
	}
	var resp pb.KVApplyResponse
	if err := a.backend.RPC(r.Context(), dc.MethodKVApply, &pb.KVApplyRequest{Write: wo, Op: op}, &resp); err != nil {
		return nil, err
	}
	return resp.Ok, nil
}

func (a *Agent) kvDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	params := query(r)
	key := kvKey(r)
	if conflicts := conflictingFlags(params, "recurse", "cas"); conflicts != "" {
		return nil, badRequest("Conflicting flags: %s", conflicts)
	}
	op := &pb.KVOp{Verb: pb.KVVerb_KV_DELETE, Entry: &pb.KVEntry{Key: key}}
	if _, ok := params["recurse"]; ok {
		op.Verb = pb.KVVerb_KV_DELETE_TREE
	} else if key == "" {
		return nil, badRequest("Missing key name")
	}
	if _, ok := params["cas"]; ok {
		if op.Entry.ModifyIndex, err = strconv.ParseUint(params.Get("cas"), 10, 64); err != nil {
			return nil, badRequest("Invalid cas index: %q", params.Get("cas"))
		}
		op.Verb = pb.KVVerb_KV_DELETE_CAS
	}
	var resp pb.KVApplyResponse
	if err := a.backend.RPC(r.Context(), dc.MethodKVApply, &pb.KVApplyRequest{Write: wo, Op: op}, &resp); err != nil {
		return nil, err
	}
	return resp.Ok, nil
}

// conflictingFlags names the parameters present when more than one of
// names is, as Consul's "Conflicting flags" message does.
func conflictingFlags(params map[string][]string, names ...string) string {
	var present []string
	for _, n := range names {
		if _, ok := params[n]; ok {
			present = append(present, n+"="+strings.Join(params[n], ","))
		}
	}
	if len(present) < 2 {
		return ""
	}
	return strings.Join(present, "&")
}

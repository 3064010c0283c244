package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// txnOpJSON is one element of a /v1/txn body.
type txnOpJSON struct {
	KV      *txnKVJSON
	Node    json.RawMessage
	Service json.RawMessage
	Check   json.RawMessage
}

type txnKVJSON struct {
	Verb    string
	Key     string
	Value   []byte
	Flags   uint64
	Index   uint64
	Session string
}

type txnResultJSON struct {
	KV *kvPair `json:",omitempty"`
}

type txnErrorJSON struct {
	OpIndex int
	What    string
}

type txnResponseJSON struct {
	Results []txnResultJSON
	Errors  []txnErrorJSON
}

var kvVerbs = map[string]pb.KVVerb{
	"set":              pb.KVVerb_KV_SET,
	"cas":              pb.KVVerb_KV_CAS,
	"lock":             pb.KVVerb_KV_LOCK,
	"unlock":           pb.KVVerb_KV_UNLOCK,
	"get":              pb.KVVerb_KV_GET,
	"get-or-empty":     pb.KVVerb_KV_GET_OR_EMPTY,
	"get-tree":         pb.KVVerb_KV_GET_TREE,
	"check-index":      pb.KVVerb_KV_CHECK_INDEX,
	"check-session":    pb.KVVerb_KV_CHECK_SESSION,
	"check-not-exists": pb.KVVerb_KV_CHECK_NOT_EXISTS,
	"delete":           pb.KVVerb_KV_DELETE,
	"delete-tree":      pb.KVVerb_KV_DELETE_TREE,
	"delete-cas":       pb.KVVerb_KV_DELETE_CAS,
}

// decodeTxn turns a /v1/txn body into ops, refusing what could never apply.
func decodeTxn(body []byte, maxOps, maxValue int) ([]*pb.TxnOp, error) {
	var in []txnOpJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return nil, badRequest("Failed to parse body: %v", err)
	}
	if dec.More() {
		return nil, badRequest("Failed to parse body: trailing data after the operations")
	}
	if len(in) > maxOps {
		return nil, &httpError{code: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("Transaction contains too many operations (%d > %d)", len(in), maxOps)}
	}
	ops := make([]*pb.TxnOp, 0, len(in))
	for i, op := range in {
		switch {
		case op.KV != nil:
		case op.Node != nil || op.Service != nil || op.Check != nil:
			return nil, badRequest("Operation %d: catalog operations in transactions are not supported yet", i)
		default:
			return nil, badRequest("Operation %d: no KV operation given", i)
		}
		verb, ok := kvVerbs[strings.ToLower(op.KV.Verb)]
		if !ok {
			return nil, badRequest("Operation %d: unknown KV verb %q", i, op.KV.Verb)
		}
		if len(op.KV.Value) > maxValue {
			return nil, &httpError{code: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("Operation %d: value of %d bytes exceeds the %d byte limit", i, len(op.KV.Value), maxValue)}
		}
		ops = append(ops, &pb.TxnOp{Op: &pb.TxnOp_Kv{Kv: &pb.KVOp{Verb: verb, Entry: &pb.KVEntry{
			Key: op.KV.Key, Value: op.KV.Value, Flags: op.KV.Flags, ModifyIndex: op.KV.Index, Session: op.KV.Session,
		}}}})
	}
	return ops, nil
}

func (a *Agent) txn(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r, a.cfg.Limits.TxnMaxReqLen)
	if err != nil {
		return nil, err
	}
	ops, err := decodeTxn(body, a.cfg.Limits.TxnMaxOps, a.cfg.Limits.KVMaxValueSize)
	if err != nil {
		return nil, err
	}
	if !a.cfg.DisableKVKeyValidation {
		// The keys of a transaction obey the rule of /v1/kv/ paths.
		for _, op := range ops {
			if err := checkKVKey(op.GetKv().GetEntry().GetKey()); err != nil {
				return nil, err
			}
		}
	}
	id, err := a.identity(r)
	if err != nil {
		return nil, err
	}
	var denied []txnErrorJSON
	for i, op := range ops {
		if kv := op.GetKv(); kv != nil && !dc.KVOpAllowed(id.Authorizer, kv) {
			denied = append(denied, txnErrorJSON{OpIndex: i, What: rpc.ErrPermissionDenied.Error()})
		}
	}
	if len(denied) > 0 {
		// Consul answers a transaction with a denied operation as a
		// rolled-back one: 409 with an error per denied operation.
		writeJSON(w, r, http.StatusConflict, txnResponseJSON{Errors: denied})
		return nil, nil
	}
	req := &pb.TxnRequest{Write: &pb.WriteOptions{Dc: q.Dc, Token: q.Token}, Query: q, Ops: ops}
	var resp pb.TxnResponse
	if err := a.backend.RPC(r.Context(), dc.MethodTxn, req, &resp); err != nil {
		return nil, err
	}
	if resp.Meta != nil {
		w.Header().Set("X-Consul-KnownLeader", fmt.Sprint(resp.Meta.KnownLeader))
		w.Header().Set("X-Consul-LastContact", fmt.Sprint(resp.Meta.LastContactNanos/1e6))
	}
	out := txnResponseJSON{}
	for _, res := range resp.Results {
		if kv := res.GetKv(); kv != nil {
			p := toKVPair(kv)
			out.Results = append(out.Results, txnResultJSON{KV: &p})
		}
	}
	for _, e := range resp.Errors {
		out.Errors = append(out.Errors, txnErrorJSON{OpIndex: int(e.OpIndex), What: e.What})
	}
	if len(out.Errors) > 0 {
		out.Results = nil
		writeJSON(w, r, http.StatusConflict, out)
		return nil, nil
	}
	return out, nil
}

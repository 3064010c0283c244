package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// keyringPool is a gossip pool whose keyring can be listed and changed;
// lan.Pool and wan.Pool are.
type keyringPool interface {
	ListKeys() (lan.KeyringResponse, error)
	InstallKey(key string) (lan.KeyringResponse, error)
	UseKey(key string) (lan.KeyringResponse, error)
	RemoveKey(key string) (lan.KeyringResponse, error)
}

// keyringJSON is one pool's entry of /v1/operator/keyring, in Consul's
// shape.
type keyringJSON struct {
	WAN         bool
	Datacenter  string
	Segment     string
	Messages    map[string]string `json:",omitempty"`
	Keys        map[string]int
	PrimaryKeys map[string]int
	NumNodes    int
}

// KeyringOperation runs a keyring operation on this server's WAN pool
// (wan) or LAN pool, for the Internal.KeyringOperation RPC (dc.Keyring).
func (a *Agent) KeyringOperation(op, key string, wan bool) (*pb.KeyringResponse, error) {
	var pool keyringPool = a.lan
	name := "LAN"
	if wan {
		if a.wan == nil {
			return nil, fmt.Errorf("%w: this server has no WAN pool", rpc.ErrBadRequest)
		}
		pool, name = a.wan, "WAN"
	}
	var r lan.KeyringResponse
	var err error
	switch op {
	case dc.KeyringList:
		r, err = pool.ListKeys()
	case dc.KeyringInstall:
		r, err = pool.InstallKey(key)
	case dc.KeyringUse:
		r, err = pool.UseKey(key)
	default:
		r, err = pool.RemoveKey(key)
	}
	out := &pb.KeyringResponse{Messages: r.Messages, NumNodes: int32(r.NumNodes),
		Keys: toInt32Map(r.Keys), PrimaryKeys: toInt32Map(r.PrimaryKeys)}
	switch {
	case err == nil:
	case errors.Is(err, lan.ErrIncomplete) && op == dc.KeyringList:
		// Members that did not answer are told by the counts (a key held
		// by fewer than NumNodes), as Consul's list shows them.
		out.Incomplete = true
	case errors.Is(err, lan.ErrBadKey), errors.Is(err, lan.ErrPrimaryKey), errors.Is(err, lan.ErrKeyNotInstalled):
		return nil, fmt.Errorf("%w: %v", rpc.ErrBadRequest, err)
	case errors.Is(err, lan.ErrNotEncrypted):
		return nil, fmt.Errorf("%w: gossip encryption is not enabled on the %s pool (start every agent with -encrypt)", rpc.ErrBadRequest, name)
	default:
		return nil, keyringFailure(err, name, r.Messages)
	}
	return out, nil
}

func toInt32Map(m map[string]int) map[string]int32 {
	out := make(map[string]int32, len(m))
	for k, v := range m {
		out[k] = int32(v)
	}
	return out
}

// keyringPools runs op on every pool of the federation, as Consul's
// /v1/operator/keyring: the WAN pool first (every server of every
// datacenter), then each datacenter's LAN pool through one of its
// servers. It stops at the first pool that fails.
func (a *Agent) keyringPools(r *http.Request, op, key string) ([]*pb.KeyringResponse, error) {
	var dcs pb.DatacentersResponse
	if err := a.backend.RPC(r.Context(), dc.MethodCatalogDatacenters, &pb.DatacentersRequest{}, &dcs); err != nil {
		return nil, err
	}
	names := dcs.Datacenters
	if len(names) == 0 {
		names = []string{a.cfg.Datacenter}
	}
	token := a.requestToken(r)
	reqs := []*pb.KeyringRequest{{Dc: a.cfg.Datacenter, Op: op, Key: key, Wan: true, Token: token}}
	if a.server != nil && a.wan == nil {
		reqs = nil // a server whose WAN port is disabled has no WAN pool
	}
	for _, name := range names {
		reqs = append(reqs, &pb.KeyringRequest{Dc: name, Op: op, Key: key, Token: token})
	}
	var out []*pb.KeyringResponse
	for _, req := range reqs {
		var resp pb.KeyringResponse
		if err := a.backend.RPC(r.Context(), dc.MethodKeyringOperation, req, &resp); err != nil {
			if req.Wan && a.server == nil && strings.Contains(err.Error(), "has no WAN pool") {
				continue
			}
			pool := req.Dc + " LAN"
			if req.Wan {
				pool = "WAN"
			}
			if errors.Is(err, rpc.ErrBadRequest) {
				return nil, badRequest("%s key (%s pool): %s", op, pool, errorText(err))
			}
			return nil, fmt.Errorf("%s key (%s pool): %w", op, pool, err)
		}
		out = append(out, &resp)
	}
	return out, nil
}

// keyringList is GET /v1/operator/keyring: the keys each pool's members
// hold, and how many members hold each.
func (a *Agent) keyringList(_ http.ResponseWriter, r *http.Request) (any, error) {
	pools, err := a.keyringPools(r, dc.KeyringList, "")
	if err != nil {
		return nil, err
	}
	out := make([]keyringJSON, 0, len(pools))
	for _, p := range pools {
		out = append(out, keyringJSON{
			WAN: p.Wan, Datacenter: p.Datacenter, Messages: p.Messages,
			Keys: toIntMap(p.Keys), PrimaryKeys: toIntMap(p.PrimaryKeys), NumNodes: int(p.NumNodes),
		})
	}
	return out, nil
}

func toIntMap(m map[string]int32) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}

// keyringOp serves POST (install), PUT (use) and DELETE (remove) of
// /v1/operator/keyring, whose body is {"Key": "<base64>"}: the operation
// runs on every pool of the federation, the WAN pool first, and stops at
// the first pool where a member failed.
func (a *Agent) keyringOp(op string) apiFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		var in struct{ Key string }
		if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
			return nil, err
		}
		if in.Key == "" {
			return nil, badRequest("the request body must name a key: {\"Key\": \"<base64>\"}")
		}
		_, err := a.keyringPools(r, op, in.Key)
		return nil, err
	}
}

// keyringFailure is a pool's keyring failure in one line naming the
// members that failed (the first three); it answers 500.
func keyringFailure(err error, pool string, messages map[string]string) error {
	names := make([]string, 0, len(messages))
	for n := range messages {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(names)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", n, messages[n])
	}
	return errors.New(strings.ReplaceAll(fmt.Sprintf("%v (%s pool)%s", err, pool, b.String()), "\n", " "))
}

package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/meridian-io/meridian/lan"
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

// keyringTarget is one pool a keyring operation runs on.
type keyringTarget struct {
	wan  bool
	pool keyringPool
}

// keyringTargets are the pools of this agent: the WAN pool first (servers
// with a WAN port), then the LAN pool. Each operation is a serf query that
// reaches every member of its pool, so a server's answer covers every
// server of every datacenter (WAN) and every agent of its own (LAN); a
// client agent's covers its LAN.
func (a *Agent) keyringTargets() []keyringTarget {
	var out []keyringTarget
	if a.wan != nil {
		out = append(out, keyringTarget{wan: true, pool: a.wan})
	}
	if a.lan != nil {
		out = append(out, keyringTarget{pool: a.lan})
	}
	return out
}

// keyringList is GET /v1/operator/keyring: the keys each pool's members
// hold, and how many members hold each.
func (a *Agent) keyringList(_ http.ResponseWriter, _ *http.Request) (any, error) {
	out := []keyringJSON{}
	for _, t := range a.keyringTargets() {
		r, err := t.pool.ListKeys()
		// Members that did not answer are told by the counts (a key held
		// by fewer than NumNodes), as Consul's list shows them.
		if err != nil && !errors.Is(err, lan.ErrIncomplete) {
			return nil, a.keyringError("list keys", t, r, err)
		}
		out = append(out, keyringJSON{
			WAN: t.wan, Datacenter: a.cfg.Datacenter, Messages: r.Messages,
			Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, NumNodes: r.NumNodes,
		})
	}
	return out, nil
}

// keyringOp serves POST (install), PUT (use) and DELETE (remove) of
// /v1/operator/keyring, whose body is {"Key": "<base64>"}: the operation
// runs on every pool of the agent, the WAN pool first, and stops at the
// first pool where a member failed.
func (a *Agent) keyringOp(op string) apiFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		var in struct{ Key string }
		if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
			return nil, err
		}
		if in.Key == "" {
			return nil, badRequest("the request body must name a key: {\"Key\": \"<base64>\"}")
		}
		for _, t := range a.keyringTargets() {
			var resp lan.KeyringResponse
			var err error
			switch op {
			case "install":
				resp, err = t.pool.InstallKey(in.Key)
			case "use":
				resp, err = t.pool.UseKey(in.Key)
			default:
				resp, err = t.pool.RemoveKey(in.Key)
			}
			if err != nil {
				return nil, a.keyringError(op+" key", t, resp, err)
			}
		}
		return nil, nil
	}
}

// keyringError turns a pool's keyring failure into one line: a 400 for
// what the request got wrong, a 500 naming the members that failed.
func (a *Agent) keyringError(what string, t keyringTarget, r lan.KeyringResponse, err error) error {
	pool := "LAN"
	if t.wan {
		pool = "WAN"
	}
	switch {
	case errors.Is(err, lan.ErrBadKey), errors.Is(err, lan.ErrPrimaryKey),
		errors.Is(err, lan.ErrKeyNotInstalled):
		return badRequest("%v", err)
	case errors.Is(err, lan.ErrNotEncrypted):
		return badRequest("%s: gossip encryption is not enabled on this agent's %s pool (start it with -encrypt)", what, pool)
	}
	names := make([]string, 0, len(r.Messages))
	for n := range r.Messages {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(names)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", n, r.Messages[n])
	}
	msg := strings.ReplaceAll(fmt.Sprintf("%v (%s pool)%s", err, pool, b.String()), "\n", " ")
	return &httpError{code: http.StatusInternalServerError, msg: msg}
}

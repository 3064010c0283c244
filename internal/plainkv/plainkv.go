// Package plainkv is the least a server can do to answer the consul/api
// client's KV puts, gets and blocking gets: one value per key in a map, one
// encoded answer per value, the headers Meridian sends. Benchmarks measure
// Meridian's watch fan-out against it, to tell what the server costs from
// what the clients and HTTP/1.1 cost on the same machine.
package plainkv

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/consul/api"
)

// KV serves /v1/kv/<key>: PUT stores the body, GET answers the key's
// value, and with ?index=N waits until the key's index passes N.
type KV struct {
	// BeforeAck wakes a put's watchers before the put is answered. By
	// default they wake once its answer is written, as a server that
	// applies a write before acknowledging it does.
	BeforeAck bool

	mu      sync.Mutex
	index   uint64
	keys    map[string]*key
	waiting atomic.Int64
}

type key struct {
	index   uint64
	body    []byte        // the JSON answer for the current value
	changed chan struct{} // closed by the next put
}

// Held is the number of blocking gets waiting now.
func (kv *KV) Held() int { return int(kv.waiting.Load()) }

func (kv *KV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	kv.mu.Lock()
	if kv.keys == nil {
		kv.keys = map[string]*key{}
	}
	k := kv.keys[name]
	if k == nil {
		k = &key{changed: make(chan struct{})}
		kv.keys[name] = k
	}
	if r.Method == http.MethodPut {
		val, err := io.ReadAll(r.Body)
		if err != nil {
			kv.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		kv.index++
		body, _ := json.Marshal([]api.KVPair{{Key: name, Value: val, CreateIndex: kv.index, ModifyIndex: kv.index}})
		changed := k.changed
		*k = key{index: kv.index, body: body, changed: make(chan struct{})}
		kv.mu.Unlock()
		if kv.BeforeAck {
			close(changed)
		}
		kv.header(w, kv.index)
		w.Write([]byte("true"))
		if !kv.BeforeAck {
			http.NewResponseController(w).Flush()
			close(changed)
		}
		return
	}
	cur := *k
	kv.mu.Unlock()
	if min, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64); min > 0 && cur.index <= min {
		kv.waiting.Add(1)
		select {
		case <-cur.changed:
		case <-r.Context().Done():
		}
		kv.waiting.Add(-1)
		if r.Context().Err() != nil {
			return
		}
		kv.mu.Lock()
		cur = *kv.keys[name]
		kv.mu.Unlock()
	}
	kv.header(w, cur.index)
	if cur.body == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Write(cur.body)
}

// header sets the headers Meridian's KV answers carry.
func (kv *KV) header(w http.ResponseWriter, index uint64) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Consul-Default-Acl-Policy"] = []string{"allow"}
	h["X-Consul-Index"] = []string{strconv.FormatUint(max(index, 1), 10)}
	h["X-Consul-Knownleader"] = []string{"true"}
	h["X-Consul-Lastcontact"] = []string{"0"}
}

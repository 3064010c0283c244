package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/rpc"
)

// History records operations with timestamps from one monotonic clock.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory starts a history.
func NewHistory() *History { return &History{start: time.Now()} }

func (h *History) now() int64 { return int64(time.Since(h.start)) }

func (h *History) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Operations returns the recorded operations. Indeterminate ones are given
// a return time after everything else: they may take effect any time after
// their call.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := h.now() + 1
	out := make([]porcupine.Operation, len(h.ops))
	copy(out, h.ops)
	for i := range out {
		if out[i].Output.(Output).Unknown {
			out[i].Return = end
		}
	}
	return out
}

// Check runs porcupine over the history.
func (h *History) Check(timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(KVModel.ToModel(), h.Operations(), timeout)
}

// Stats counts what the workload did.
type Stats struct {
	Ops, Failed, Unknown, StaleReads, AckedDurable atomic.Int64
}

// Workload drives concurrent clients against a datacenter's HTTP
// addresses and records what they saw.
type Workload struct {
	Addrs []string
	Keys  int
	// DC, when set, names the datacenter every request is for (?dc=): the
	// servers at Addrs forward it there. Its History is then that
	// datacenter's, shared with the workload of its own servers.
	DC string
	// IDBase is added to the client numbers, so that workloads sharing a
	// History (and the durable keys) keep their clients apart.
	IDBase int
	// Timeout bounds each HTTP request (default 4 s).
	Timeout time.Duration
	// Observe, when set, is told of every operation: when it was called,
	// how long it took, and its error (nil when it was answered, a CAS
	// that did not match included).
	Observe func(call time.Time, took time.Duration, err error)
	// Epoch, when set, moves the clients to fresh keys every Epoch. An
	// indeterminate write stays open to the end of the history (it may
	// take effect any time), so in a long run its key's history gets
	// costly to check; on fresh keys nothing later can observe it, and
	// each epoch's keys are checked on their own.
	Epoch   time.Duration
	History *History
	Stats   Stats

	// acked holds every durable key whose write was acknowledged.
	ackedMu sync.Mutex
	acked   map[string]string

	// staleViolations are stale reads whose index went backwards on the
	// same server for the same client.
	staleMu         sync.Mutex
	staleViolations []string
}

// NewWorkload prepares a workload over addrs.
func NewWorkload(addrs []string, keys int) *Workload {
	return &Workload{Addrs: addrs, Keys: keys, History: NewHistory(), acked: map[string]string{}}
}

func newClient(addr string) (*api.Client, error) {
	return newClientTimeout(addr, 4*time.Second)
}

func newClientTimeout(addr string, timeout time.Duration) (*api.Client, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	return api.NewClient(&api.Config{Address: addr, Transport: tr, WaitTime: time.Second,
		HttpClient: &http.Client{Transport: tr, Timeout: timeout}})
}

// Run starts n clients with seeds derived from seed and runs them until
// ctx is done.
func (w *Workload) Run(ctx context.Context, n int, seed uint64) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for id := 0; id < n; id++ {
		clients := make([]*api.Client, len(w.Addrs))
		timeout := w.Timeout
		if timeout <= 0 {
			timeout = 4 * time.Second
		}
		for i, a := range w.Addrs {
			c, err := newClientTimeout(a, timeout)
			if err != nil {
				return err
			}
			clients[i] = c
		}
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			errs <- w.client(ctx, w.IDBase+id, clients, rand.New(rand.NewPCG(seed, uint64(w.IDBase+id))))
		}(id)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// client is one client's loop: random operations over a few groups of
// keys through a random server (single-key and txn), plus unique durable
// writes and stale reads.
func (w *Workload) client(ctx context.Context, id int, clients []*api.Client, rng *rand.Rand) error {
	known := map[string]*api.KVPair{} // last pair this client read, per key
	lastStale := map[string]uint64{}  // per server: last stale index seen
	groups := max(1, w.Keys/groupSize)
	seq := 0
	for ctx.Err() == nil {
		srv := rng.IntN(len(clients))
		c := clients[srv]
		group := fmt.Sprintf("lin/e%d/g%d/", w.epoch(), rng.IntN(groups))
		slot := rng.IntN(groupSize)
		key := group + strconv.Itoa(slot)
		seq++
		value := fmt.Sprintf("c%d-%d", id, seq)
		in := Input{Group: group, Slot: slot, Value: value}
		w.Stats.Ops.Add(1)
		start := time.Now()
		var err error
		switch r := rng.IntN(100); {
		case r < 16:
			err = w.get(ctx, id, c, in, known, false)
		case r < 28:
			err = w.get(ctx, id, c, in, known, true)
		case r < 44:
			in.Op = OpPut
			err = w.write(id, in, func() (bool, error) {
				_, err := c.KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, w.writeOpts(ctx))
				return true, err
			})
		case r < 60:
			in.Op = OpCAS
			idx := expect(&in, known[key])
			err = w.write(id, in, func() (bool, error) {
				ok, _, err := c.KV().CAS(&api.KVPair{Key: key, Value: []byte(value), ModifyIndex: idx}, w.writeOpts(ctx))
				return ok, err
			})
		case r < 65:
			in.Op = OpDelete
			err = w.write(id, in, func() (bool, error) {
				_, err := c.KV().Delete(key, w.writeOpts(ctx))
				return true, err
			})
		case r < 70:
			err = w.txnGet(ctx, id, c, in, known)
		case r < 80:
			in.Op = OpTxnPut
			var check *api.KVTxnOp
			if r >= 75 {
				in.Op = OpTxnCAS
				first := group + "0"
				check = &api.KVTxnOp{Verb: api.KVCheckIndex, Key: first, Index: expect(&in, known[first])}
				if in.ExpectAbsent {
					check = &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: first}
				}
			}
			for i := range in.Values {
				in.Values[i] = value + "-" + strconv.Itoa(i)
			}
			err = w.write(id, in, func() (bool, error) { return txnWrite(ctx, c, in, check, w.DC) })
		case r < 90:
			dkey := fmt.Sprintf("dur/c%d/%d", id, seq)
			if _, err = c.KV().Put(&api.KVPair{Key: dkey, Value: []byte(value)}, w.writeOpts(ctx)); err == nil {
				w.ackedMu.Lock()
				w.acked[dkey] = value
				w.ackedMu.Unlock()
				w.Stats.AckedDurable.Add(1)
			}
		default:
			err = w.staleRead(ctx, c, srv, key, lastStale)
		}
		if w.Observe != nil && ctx.Err() == nil {
			w.Observe(start, time.Since(start), err)
		}
	}
	return nil
}

// query returns read options for ctx and the workload's datacenter.
func (w *Workload) query(ctx context.Context, q api.QueryOptions) *api.QueryOptions {
	q.Datacenter = w.DC
	return q.WithContext(ctx)
}

// epoch numbers the current key epoch (0 without epochs).
func (w *Workload) epoch() int {
	if w.Epoch <= 0 {
		return 0
	}
	return int(time.Duration(w.History.now()) / w.Epoch)
}

// expect fills a CAS input from the pair last read (nil: absent) and
// returns the index to compare with (0: create only).
func expect(in *Input, prev *api.KVPair) uint64 {
	if prev == nil {
		in.ExpectAbsent = true
		return 0
	}
	in.Expect = string(prev.Value)
	return prev.ModifyIndex
}

// txnWrite sets every key of in's group to in.Values in one transaction,
// after check when there is one.
func txnWrite(ctx context.Context, c *api.Client, in Input, check *api.KVTxnOp, dc string) (bool, error) {
	var ops api.TxnOps
	if check != nil {
		ops = append(ops, &api.TxnOp{KV: check})
	}
	for i := range in.Values {
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: in.Group + strconv.Itoa(i), Value: []byte(in.Values[i])}})
	}
	ok, _, _, err := c.Txn().Txn(ops, (&api.QueryOptions{Datacenter: dc}).WithContext(ctx))
	return ok, err
}

// txnGet reads every key of in's group in one transaction (get-tree).
func (w *Workload) txnGet(ctx context.Context, id int, c *api.Client, in Input, known map[string]*api.KVPair) error {
	in.Op = OpTxnGet
	call := w.History.now()
	ok, resp, _, err := c.Txn().Txn(api.TxnOps{{KV: &api.KVTxnOp{Verb: api.KVGetTree, Key: in.Group}}}, w.query(ctx, api.QueryOptions{}))
	ret := w.History.now()
	if err == nil && !ok {
		err = errors.New("read-only txn not ok")
	}
	if err != nil {
		w.Stats.Failed.Add(1)
		return err
	}
	var out Output
	for i := range groupSize {
		delete(known, in.Group+strconv.Itoa(i))
	}
	for _, r := range resp.Results {
		if r.KV == nil {
			continue
		}
		slot, err := strconv.Atoi(strings.TrimPrefix(r.KV.Key, in.Group))
		if err != nil || slot < 0 || slot >= groupSize {
			continue
		}
		out.Both[slot] = KeyValue{Exists: true, Value: string(r.KV.Value)}
		known[r.KV.Key] = &api.KVPair{Key: r.KV.Key, Value: r.KV.Value, ModifyIndex: r.KV.ModifyIndex}
	}
	w.History.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret, Metadata: "txn" + w.via()})
	return nil
}

// via tags an operation's metadata with the datacenter it was sent to.
func (w *Workload) via() string {
	if w.DC == "" {
		return ""
	}
	return " via ?dc=" + w.DC
}

// writeOpts returns write options for ctx and the workload's datacenter.
func (w *Workload) writeOpts(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{Datacenter: w.DC}).WithContext(ctx)
}

func (w *Workload) get(ctx context.Context, id int, c *api.Client, in Input, known map[string]*api.KVPair, consistent bool) error {
	in.Op = OpGet
	key := in.Group + strconv.Itoa(in.Slot)
	call := w.History.now()
	pair, _, err := c.KV().Get(key, w.query(ctx, api.QueryOptions{RequireConsistent: consistent}))
	ret := w.History.now()
	if err != nil {
		// A failed read has no effect: leave it out.
		w.Stats.Failed.Add(1)
		return err
	}
	known[key] = pair
	var out Output
	if pair != nil {
		out.Read = KeyValue{Exists: true, Value: string(pair.Value)}
	}
	mode := "default"
	if consistent {
		mode = "consistent"
	}
	w.History.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret, Metadata: mode + w.via()})
	return nil
}

func (w *Workload) write(id int, in Input, do func() (bool, error)) error {
	call := w.History.now()
	ok, err := do()
	ret := w.History.now()
	out := Output{OK: ok}
	switch {
	case err != nil && notApplied(err):
		// Surely without effect: it never reached a server, or the server
		// says no leader took it (a claim the history then checks: a
		// refused write whose value is later read is a violation).
		w.Stats.Failed.Add(1)
		return err
	case err != nil:
		// Any other failed write may still have been applied (a timeout,
		// a lost leader after the proposal): its outcome is unknown.
		w.Stats.Unknown.Add(1)
		out = Output{Unknown: true}
	}
	w.History.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret, Metadata: w.via()})
	return err
}

// notApplied reports whether a failed write surely had no effect: the
// connection was refused, or the answer was Consul's "No cluster leader",
// which Meridian gives only for a write no leader appended to its log, or
// "No path to datacenter", which a server gives for a write to another
// datacenter only when it sent the write to none of its servers (a write
// that reached one and then failed answers with the transport's error).
func notApplied(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, rpc.ErrNoLeader.Error()) || strings.Contains(msg, rpc.ErrNoPathToDC.Error())
}

// staleRead checks that a stale read of one server never goes back in
// index for this client.
func (w *Workload) staleRead(ctx context.Context, c *api.Client, srv int, key string, last map[string]uint64) error {
	_, meta, err := c.KV().Get(key, w.query(ctx, api.QueryOptions{AllowStale: true}))
	if err != nil {
		w.Stats.Failed.Add(1)
		return err
	}
	w.Stats.StaleReads.Add(1)
	if w.DC != "" {
		// Each request may be answered by another server of that
		// datacenter: nothing to compare.
		return nil
	}
	k := strconv.Itoa(srv) + "/" + key
	if prev := last[k]; meta.LastIndex < prev {
		w.staleMu.Lock()
		w.staleViolations = append(w.staleViolations, fmt.Sprintf("server %d key %s: index %d after %d", srv, key, meta.LastIndex, prev))
		w.staleMu.Unlock()
	}
	last[k] = max(last[k], meta.LastIndex)
	return nil
}

// StaleViolations lists stale reads whose index went backwards.
func (w *Workload) StaleViolations() []string {
	w.staleMu.Lock()
	defer w.staleMu.Unlock()
	return append([]string(nil), w.staleViolations...)
}

// Acked returns the acknowledged durable writes.
func (w *Workload) Acked() map[string]string {
	w.ackedMu.Lock()
	defer w.ackedMu.Unlock()
	out := make(map[string]string, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out
}

// LostWrites reads every acknowledged durable key from the server at addr
// (stale: that server's own state) and returns those missing or wrong.
func LostWrites(addr string, acked map[string]string) ([]string, error) {
	c, err := newClient(addr)
	if err != nil {
		return nil, err
	}
	pairs, _, err := c.KV().List("dur/", &api.QueryOptions{AllowStale: true})
	if err != nil {
		return nil, err
	}
	have := make(map[string]string, len(pairs))
	for _, p := range pairs {
		have[p.Key] = string(p.Value)
	}
	return MissingWrites(acked, have), nil
}

// MissingWrites returns, sorted, the keys of acked whose acknowledged
// value is absent from have or differs there (every durable key is
// written once, so any other value means the acknowledged one was lost).
func MissingWrites(acked, have map[string]string) []string {
	var lost []string
	for k, v := range acked {
		if got, ok := have[k]; !ok || got != v {
			lost = append(lost, k)
		}
	}
	slices.Sort(lost)
	return lost
}

// Watcher follows the prefix of the contended keys with blocking queries,
// as a consul-template or `meridian watch` would, and checks that no
// answer comes back with an index below the one it asked with.
type Watcher struct {
	mu         sync.Mutex
	last       []*api.KVPair
	lastIndex  uint64
	violations []string
}

// Watch runs until ctx ends.
func (wt *Watcher) Watch(ctx context.Context, addr string) {
	c, err := newClient(addr)
	if err != nil {
		return
	}
	var index uint64
	for ctx.Err() == nil {
		pairs, meta, err := c.KV().List("lin/", (&api.QueryOptions{WaitIndex: index, WaitTime: 2 * time.Second}).WithContext(ctx))
		if err != nil {
			continue
		}
		wt.mu.Lock()
		if index > 0 && meta.LastIndex < index {
			wt.violations = append(wt.violations, fmt.Sprintf("asked with index %d, answered %d", index, meta.LastIndex))
		}
		wt.last, wt.lastIndex = pairs, meta.LastIndex
		wt.mu.Unlock()
		index = meta.LastIndex
	}
}

// State is what the watcher saw last.
func (wt *Watcher) State() ([]*api.KVPair, uint64, []string) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.last, wt.lastIndex, append([]string(nil), wt.violations...)
}

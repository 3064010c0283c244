package agent

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// ?dc=* on the catalog and health list reads (/v1/catalog/services,
// /v1/catalog/service/<s>, /v1/catalog/nodes, /v1/health/service/<s>,
// /v1/health/state/<s>, /v1/health/checks/<s>, /v1/health/node/<n>) asks
// every datacenter the servers know at once. The agent answering the
// request runs the fan-out: it asks its servers for the datacenters
// (nearest first), sends the ordinary per-datacenter read for each in
// parallel through the usual path (its servers forward, or relay, to the
// others), runs each answer through the single-datacenter logic (near
// sort, filter) and concatenates them nearest datacenter first, each entry
// with its Datacenter. Running it in the agent needs no new RPC and no
// change on servers, and each datacenter's answer goes over the path and
// rules a ?dc=<name> read takes.
const allDC = "*"

const (
	// headerUnreachable lists the datacenters that did not answer a ?dc=*
	// read within the deadline (comma-separated, nearest first).
	headerUnreachable = "X-Meridian-Unreachable-Datacenters"
	// headerServiceDCs maps each service name of a ?dc=* catalog/services
	// answer to the datacenters that have it, as a JSON object.
	headerServiceDCs = "X-Meridian-Service-Datacenters"
	// defaultAllDCTimeout bounds each datacenter's part of a ?dc=* read
	// (beyond a blocking read's wait).
	defaultAllDCTimeout = 3 * time.Second
)

// withoutAllDC reports whether r asks ?dc=*, and returns r without the dc
// parameter then, so that the usual parsing applies to the rest.
func withoutAllDC(r *http.Request) (*http.Request, bool) {
	q := r.URL.Query()
	if q.Get("dc") != allDC {
		return r, false
	}
	q.Del("dc")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	return r2, true
}

// dcRead reads one datacenter (cq's Query.Dc) and shapes its answer.
type dcRead[T any] func(ctx context.Context, cq *pb.CatalogQuery) (T, *pb.QueryMeta, error)

// dcAnswer is one datacenter's part of a ?dc=* read.
type dcAnswer[T any] struct {
	dc    string
	value T
	meta  *pb.QueryMeta
	relay string
	err   error
}

// allDCResult is a ?dc=* read's answers, nearest datacenter first, and
// the token that names their indexes.
type allDCResult[T any] struct {
	answers []dcAnswer[T]
	token   uint64
}

// answered are the answers that came back.
func (res allDCResult[T]) answered() []dcAnswer[T] {
	var out []dcAnswer[T]
	for _, a := range res.answers {
		if a.err == nil {
			out = append(out, a)
		}
	}
	return out
}

// readAllDCs runs read against every datacenter. A blocking read (a known
// token in ?index=) first waits until any datacenter's index moves from
// the token's vector, or the wait ends; then every datacenter is read
// afresh. A token this agent does not know answers at once. When every
// datacenter fails the local one's error is returned.
func readAllDCs[T any](a *Agent, ctx context.Context, cq *pb.CatalogQuery, read dcRead[T]) (allDCResult[T], error) {
	var dcs pb.DatacentersResponse
	if err := a.backend.RPC(ctx, dc.MethodCatalogDatacenters, &pb.DatacentersRequest{}, &dcs); err != nil {
		return allDCResult[T]{}, err
	}
	names := dcs.Datacenters
	if len(names) == 0 {
		names = []string{a.cfg.Datacenter}
	}
	if idx := cq.GetQuery().GetMinIndex(); idx > 0 {
		if vec, ok := a.allDCTokens.lookup(idx); ok {
			waitAnyDC(a, ctx, names, vec, cq, read)
		}
	}
	fresh := proto.Clone(cq).(*pb.CatalogQuery)
	fresh.Query.MinIndex, fresh.Query.MaxWaitNanos = 0, 0
	answers := eachDC(ctx, names, fresh, a.allDCTimeout, read)
	vec := map[string]uint64{}
	for _, ans := range answers {
		if ans.err == nil {
			vec[ans.dc] = max(ans.meta.GetIndex(), 1)
		}
	}
	if len(vec) == 0 {
		return allDCResult[T]{}, answers[0].err
	}
	return allDCResult[T]{answers: answers, token: a.allDCTokens.token(vec)}, nil
}

// eachDC reads every datacenter in parallel, each bounded by timeout (on
// top of its blocking wait), and returns the answers in the order of dcs.
// Each read records its own relay.
func eachDC[T any](ctx context.Context, dcs []string, cq *pb.CatalogQuery, timeout time.Duration, read dcRead[T]) []dcAnswer[T] {
	answers := make([]dcAnswer[T], len(dcs))
	var wg sync.WaitGroup
	for i, name := range dcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := proto.Clone(cq).(*pb.CatalogQuery)
			q.Query.Dc = name
			rctx, cancel := context.WithTimeout(ctx, timeout+blockingWait(q.Query))
			defer cancel()
			rctx, note := rpc.WithRelayNote(rctx)
			v, meta, err := read(rctx, q)
			answers[i] = dcAnswer[T]{dc: name, value: v, meta: meta, relay: note.Via(), err: err}
		}()
	}
	wg.Wait()
	return answers
}

// blockingWait is how long a server may hold q (its wait plus the 1/16
// jitter servers add); 0 for a read that does not block.
func blockingWait(q *pb.QueryOptions) time.Duration {
	if q.GetMinIndex() == 0 {
		return 0
	}
	wait := time.Duration(q.GetMaxWaitNanos())
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	return wait + wait/16
}

// waitAnyDC blocks on every datacenter at its index in vec, and returns as
// soon as one answers with another index (a datacenter missing from vec,
// one that did not answer last time, counts as moved once it answers), or
// when every read has ended. A datacenter that fails does not wake it.
func waitAnyDC[T any](a *Agent, ctx context.Context, dcs []string, vec map[string]uint64, cq *pb.CatalogQuery, read dcRead[T]) {
	q := proto.Clone(cq).(*pb.CatalogQuery)
	wait := time.Duration(q.Query.MaxWaitNanos)
	if wait <= 0 {
		wait = a.cfg.DefaultQueryTime
	}
	if a.cfg.MaxQueryTime > 0 {
		wait = min(wait, a.cfg.MaxQueryTime)
	}
	q.Query.MaxWaitNanos = int64(max(wait, time.Millisecond))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	moved := make(chan struct{}, len(dcs))
	var wg sync.WaitGroup
	for _, name := range dcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dq := proto.Clone(q).(*pb.CatalogQuery)
			dq.Query.Dc, dq.Query.MinIndex = name, vec[name]
			if dq.Query.MinIndex == 0 {
				dq.Query.MaxWaitNanos = 0
			}
			rctx, cancelRead := context.WithTimeout(wctx, a.allDCTimeout+blockingWait(dq.Query))
			defer cancelRead()
			_, meta, err := read(rctx, dq)
			if err == nil && max(meta.GetIndex(), 1) != vec[name] {
				moved <- struct{}{}
			}
		}()
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	select {
	case <-moved:
	case <-all:
	case <-ctx.Done():
	}
	cancel()
	<-all
}

// setAllDCMeta writes the headers of a ?dc=* answer: the token as
// X-Consul-Index, a leader known only if every answering datacenter knows
// one, the largest last contact, the unreachable datacenters and the
// relays used ("dc3=dc2": dc3 was reached through dc2).
func setAllDCMeta[T any](w http.ResponseWriter, res allDCResult[T]) {
	meta := &pb.QueryMeta{Index: res.token, KnownLeader: true}
	var unreachable, relays []string
	for _, ans := range res.answers {
		if ans.err != nil {
			unreachable = append(unreachable, ans.dc)
			continue
		}
		meta.KnownLeader = meta.KnownLeader && ans.meta.GetKnownLeader()
		meta.LastContactNanos = max(meta.LastContactNanos, ans.meta.GetLastContactNanos())
		meta.Consistency = ans.meta.GetConsistency()
		meta.ResultsFilteredByAcls = meta.ResultsFilteredByAcls || ans.meta.GetResultsFilteredByAcls()
		if ans.relay != "" {
			relays = append(relays, ans.dc+"="+ans.relay)
		}
	}
	setMeta(w, meta)
	setConsistency(w, meta.Consistency)
	if len(unreachable) > 0 {
		w.Header().Set(headerUnreachable, strings.Join(unreachable, ","))
	}
	if len(relays) > 0 {
		w.Header().Set(headerRelay, strings.Join(relays, ","))
	}
}

// allDCList answers a ?dc=* list read: every datacenter's entries, nearest
// datacenter first, each stamped with its datacenter by setDC.
func allDCList[T any](a *Agent, w http.ResponseWriter, r *http.Request, cq *pb.CatalogQuery, read dcRead[[]T], setDC func(*T, string)) (any, error) {
	res, err := readAllDCs(a, r.Context(), cq, read)
	if err != nil {
		return nil, err
	}
	setAllDCMeta(w, res)
	out := []T{}
	for _, ans := range res.answered() {
		for i := range ans.value {
			setDC(&ans.value[i], ans.dc)
		}
		out = append(out, ans.value...)
	}
	return out, nil
}

// allDCServices answers /v1/catalog/services?dc=*. Its Consul shape, a
// map of service name to tags, has no room for a datacenter, and the
// official clients decode it into exactly that map, so the shape stays:
// each name once, with the union of its tags in every datacenter, and the
// datacenters of each name in the X-Meridian-Service-Datacenters header
// ({"web":["dc1","dc2"]}, nearest first). Tools that list names and then
// ask /v1/catalog/service/<name>?dc=* keep working unchanged.
func allDCServices(a *Agent, w http.ResponseWriter, r *http.Request, cq *pb.CatalogQuery, read dcRead[map[string][]string]) (any, error) {
	res, err := readAllDCs(a, r.Context(), cq, read)
	if err != nil {
		return nil, err
	}
	setAllDCMeta(w, res)
	tags := map[string]map[string]bool{}
	where := map[string][]string{}
	for _, ans := range res.answered() {
		for name, ts := range ans.value {
			if tags[name] == nil {
				tags[name] = map[string]bool{}
			}
			for _, t := range ts {
				tags[name][t] = true
			}
			where[name] = append(where[name], ans.dc)
		}
	}
	out := make(map[string][]string, len(tags))
	for name, set := range tags {
		out[name] = nonNil(slices.Sorted(maps.Keys(set)))
	}
	if b, err := json.Marshal(where); err == nil {
		w.Header().Set(headerServiceDCs, string(b))
	}
	return out, nil
}

// dcHealthCheckJSON is a health check of a ?dc=* answer: Consul's
// HealthCheck has no Datacenter field, so these answers add one.
type dcHealthCheckJSON struct {
	healthCheckJSON
	Datacenter string
}

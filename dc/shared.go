package dc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// sharedQueries lets identical blocking queries share one wait, one store
// read and one response: N watchers of a key at the same index cost one
// query. Queries are identical when their method and request (token,
// index, wait, consistency and every argument included) are; with ACLs on,
// also the resolved token, so answers are never shared across tokens or
// across a change of ACL state.
//
// A query may be joined only while it is waiting for its read to change
// (blockingQuery marks those stretches): its next read then begins after
// every member arrived, so each member gets an answer as fresh as the one
// it would have read alone. A request arriving while a query reads or
// answers starts a new one.
type sharedQueries struct {
	mu sync.Mutex
	// calls holds, per key, the query new requests join if it is
	// joinable. Others with that key may run too: those started while it
	// read, each with its own members.
	calls map[string]*sharedQuery
	// running and members count every query and member, for tests and
	// benchmarks.
	running, members int
}

// sharedQuery is one query run on behalf of its members.
type sharedQuery struct {
	key  string
	done chan struct{}
	resp proto.Message // read-only once done is closed
	err  error
	// memo keeps what members make of resp (its JSON) for the others.
	memo Memo

	// Guarded by sharedQueries.mu.
	members  int
	joinable bool
	// readAt is a time (on this server's clock) before which the data of
	// the answer was not read: when the query began, then when its last
	// read began (see markRead), or what the server that read it for a
	// forwarded query reported (rpc.ReadAfter). Every member arrived
	// before it, but those that joined a forwarded query on its way
	// (lastJoin); an RPC member is told how long after its arrival it is.
	start, readAt time.Time
	lastJoin      time.Time
	// remote is set while the query waits on another server (a follower
	// forwarding it to the leader): members that join then may get an
	// answer read before they arrived, so they get a fresh read instead.
	remote bool
	joined bool // someone joined while remote
	cancel context.CancelFunc
}

type sharedQueryKey struct{}

// Memo keeps one value made from a shared query's answer (its JSON, say)
// for every member of the query: Do makes it once. A nil Memo (an answer
// nobody shares) makes it at each call.
type Memo struct {
	once sync.Once
	v    any
}

// Do returns build's value, made by the first member to ask.
func (m *Memo) Do(build func() any) any {
	if m == nil {
		return build()
	}
	m.once.Do(func() { m.v = build() })
	return m.v
}

// blockingMinIndex is the min_index of a read request, 0 for any other.
func blockingMinIndex(req proto.Message) *pb.QueryOptions {
	switch r := req.(type) {
	case interface{ GetQuery() *pb.QueryOptions }:
		return r.GetQuery()
	case interface{ GetQ() *pb.CatalogQuery }:
		return r.GetQ().GetQuery()
	}
	return nil
}

// sharedKey is the key under which req may share a query, or "" when it
// must run alone (not a blocking read, or its token does not resolve:
// the endpoint answers that itself).
func (s *Server) sharedKey(ctx context.Context, method string, req proto.Message) string {
	q := blockingMinIndex(req)
	if q.GetMinIndex() == 0 {
		return ""
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return ""
	}
	key := method + "\x00" + string(b)
	if s.cfg.ACL.Enabled {
		// The resolved identity is replaced whenever any ACL table
		// changes (see aclCache), so a request made after a change never
		// joins a query whose permissions were checked before it.
		id, err := s.ResolveToken(ctx, q.GetToken())
		if err != nil {
			return ""
		}
		key += fmt.Sprintf("\x00%p", id.Authorizer)
	}
	return key
}

// do runs call for this request, or joins an identical query waiting for
// a change. The response it returns is shared and must not be modified,
// unless sole reports that this request started the query and was its
// only member at the end. The query runs in the goroutine of the request
// that started it; it is canceled only when every member has gone.
//
// fresh, if the query was forwarded and others joined it on the way, reads
// again for all of them (without blocking: the first answer already
// passed min_index or timed out), since the first answer may have been
// read before some of them arrived.
//
// joinRemote is false for a request that came from another agent over
// RPC: it never joins a query this server forwarded (one that waits on
// another server), since that request may be the forwarded query itself
// coming back. Two servers each believing the other leads (a leader
// change seen at different times) would otherwise close a loop: A's query
// waits on its forward to B, B forwards it back to A, where it joins A's
// query and waits on itself; pings keep both sessions alive and nothing
// else bounds the forward, so every member would hang until its client
// gave up. Such a request starts its own query instead, which this
// server answers itself once it leads, or forwards again.
func (sq *sharedQueries) do(ctx context.Context, key string, joinRemote bool, newResp func() proto.Message, call, fresh func(ctx context.Context, resp proto.Message) error) (resp proto.Message, sole bool, memo *Memo, readAt time.Time, err error) {
	sq.mu.Lock()
	if c := sq.calls[key]; c != nil && c.joinable && (joinRemote || !c.remote) {
		c.members++
		sq.members++
		if c.remote {
			c.joined = true
			c.lastJoin = time.Now()
		}
		sq.mu.Unlock()
		resp, readAt, err := sq.wait(ctx, c)
		return resp, false, &c.memo, readAt, err
	}
	if sq.calls == nil {
		sq.calls = map[string]*sharedQuery{}
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	now := time.Now()
	c := &sharedQuery{key: key, done: make(chan struct{}), members: 1, cancel: cancel, start: now, readAt: now}
	sq.calls[key] = c
	sq.running++
	sq.members++
	sq.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { sq.leave(c) })
	resp = newResp()
	callCtx, after := rpc.WithReadAfter(context.WithValue(cctx, sharedQueryKey{}, &sharedMark{sq: sq, c: c}))
	err = call(callCtx, resp)
	sq.mu.Lock()
	c.joinable = false
	if d := after.Get(); d > 0 {
		// Read on the server the query was sent to at least d after it
		// arrived there, which was after c.start; 1/64 of d and a
		// millisecond allow for the two clocks' rates differing.
		if at := c.start.Add(d - d/64 - time.Millisecond); at.After(c.readAt) {
			c.readAt = at
		}
	}
	// Those that joined on the way before the read are answered by it;
	// if any joined later, all get a fresh read.
	reread := c.joined && err == nil && !c.lastJoin.Before(c.readAt)
	sq.mu.Unlock()
	if reread {
		at := time.Now()
		resp = newResp()
		err = fresh(cctx, resp)
		sq.mu.Lock()
		c.readAt = at
		sq.mu.Unlock()
	}
	stop()
	sq.mu.Lock()
	sole = c.members == 1
	readAt = c.readAt
	c.resp, c.err = resp, err
	c.joinable = false
	if sq.calls[key] == c {
		delete(sq.calls, key)
	}
	sq.running--
	sq.members -= c.members
	c.members = 0
	sq.mu.Unlock()
	close(c.done)
	cancel()
	if ctx.Err() != nil {
		// This caller went away (the query went on if others waited).
		return nil, false, nil, readAt, ctx.Err()
	}
	return resp, sole, &c.memo, readAt, err
}

// wait is a joined member's wait for the query's answer.
func (sq *sharedQueries) wait(ctx context.Context, c *sharedQuery) (proto.Message, time.Time, error) {
	select {
	case <-c.done:
		return c.resp, c.readAt, c.err
	case <-ctx.Done():
		sq.leave(c)
		return nil, time.Time{}, ctx.Err()
	}
}

// leave drops a member that gave up; the last one cancels the query, which
// then takes no new members.
func (sq *sharedQueries) leave(c *sharedQuery) {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.members--
	sq.members--
	if c.members == 0 {
		c.joinable = false
		if sq.calls[c.key] == c {
			delete(sq.calls, c.key)
		}
		c.cancel()
	}
}

// sharedMark lets blockingQuery open and close its query to new members.
type sharedMark struct {
	sq *sharedQueries
	c  *sharedQuery
}

// setJoinable opens (while the query waits for a change) or closes
// (before it reads) the query of ctx, if it is shared. An opening query
// takes its key's place unless another joinable one holds it.
func setJoinable(ctx context.Context, open bool) {
	setJoinableOn(ctx, open, false)
}

// markRead marks the time a read of the query of ctx begins after a wait
// (blockingQuery; the query is closed to new members by then). An answer
// given when the wait runs out keeps the time of the read before it.
func markRead(ctx context.Context) {
	m, _ := ctx.Value(sharedQueryKey{}).(*sharedMark)
	if m == nil {
		return
	}
	m.sq.mu.Lock()
	defer m.sq.mu.Unlock()
	m.c.readAt = time.Now()
}

// openForwarded opens the query of ctx while it waits on another server
// (see sharedQuery.remote).
func openForwarded(ctx context.Context) {
	setJoinableOn(ctx, true, true)
}

func setJoinableOn(ctx context.Context, open, remote bool) {
	m, _ := ctx.Value(sharedQueryKey{}).(*sharedMark)
	if m == nil {
		return
	}
	sq, c := m.sq, m.c
	sq.mu.Lock()
	defer sq.mu.Unlock()
	if !open || c.members == 0 {
		c.joinable = false
		return
	}
	c.remote = remote
	if cur := sq.calls[c.key]; cur == c || cur == nil || !cur.joinable {
		sq.calls[c.key] = c
		c.joinable = true
	}
}

// ForwardedQueries lets identical blocking queries that a client agent
// sends to its servers share one call: those that join it on the way get
// one fresh read together once it returns (the call's answer may have
// been read, and its token checked, before they arrived), so 1,000
// watchers of a key cost a server one or two calls instead of 1,000.
type ForwardedQueries struct {
	sq sharedQueries
}

// Call makes call(ctx, req, resp), or joins an identical blocking one
// (same method and request, token included) in flight. Requests that are
// not blocking reads are called alone.
func (f *ForwardedQueries) Call(ctx context.Context, method string, req, resp proto.Message, call func(ctx context.Context, req, resp proto.Message) error) error {
	if blockingMinIndex(req).GetMinIndex() == 0 {
		return call(ctx, req, resp)
	}
	newResp := func() proto.Message { return resp.ProtoReflect().New().Interface() }
	shared, sole, _, err := f.CallShared(ctx, method, req, newResp, call)
	if err != nil {
		return err
	}
	takeAnswer(resp, shared, sole)
	return nil
}

// CallShared is Call that hands back the answer itself, shared with the
// other members of its query unless sole (the caller must not modify it
// then), and the query's Memo (nil when it ran alone).
func (f *ForwardedQueries) CallShared(ctx context.Context, method string, req proto.Message, newResp func() proto.Message, call func(ctx context.Context, req, resp proto.Message) error) (resp proto.Message, sole bool, memo *Memo, err error) {
	var key []byte
	if blockingMinIndex(req).GetMinIndex() != 0 {
		key, err = proto.MarshalOptions{Deterministic: true}.Marshal(req)
	}
	if len(key) == 0 || err != nil {
		resp = newResp()
		return resp, true, nil, call(ctx, req, resp)
	}
	resp, sole, memo, _, err = f.sq.do(ctx, method+"\x00"+string(key), true, newResp, func(ctx context.Context, r proto.Message) error {
		openForwarded(ctx)
		defer setJoinable(ctx, false)
		return call(ctx, req, r)
	}, func(ctx context.Context, r proto.Message) error {
		now := proto.Clone(req)
		q := blockingMinIndex(now)
		q.MinIndex, q.MaxWaitNanos = 1, 1
		return call(ctx, now, r)
	})
	return resp, sole, memo, err
}

// takeAnswer puts a shared query's answer in the caller's resp: a copy,
// unless the caller was its only member.
func takeAnswer(resp, shared proto.Message, sole bool) {
	proto.Reset(resp)
	if !sole {
		proto.Merge(resp, shared)
		return
	}
	dst := resp.ProtoReflect()
	shared.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
}

package dc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// sharedCalls is the number of queries s runs and of their members.
func sharedCalls(s *Server) (calls, members int) {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	return s.shared.running, s.shared.members
}

// openCalls is the number of queries of s open to new members.
func openCalls(s *Server) int {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	n := 0
	for _, c := range s.shared.calls {
		if c.joinable {
			n++
		}
	}
	return n
}

// sharedFixture is a 3-server cluster with key set once, and watchers
// of it: watch starts a blocking read of key at the set index (waiting up
// to wait) on a server, whose answer arrives on got.
type sharedFixture struct {
	leader, follower *testServer
	set              pb.KVApplyResponse
	got              chan *pb.KVGetResponse
	watch            func(on *testServer)
}

func newSharedFixture(t *testing.T, key string, n int, wait time.Duration) *sharedFixture {
	c := newTestCluster(t, 3, nil)
	fx := &sharedFixture{leader: c.waitLeader(), got: make(chan *pb.KVGetResponse, n)}
	fx.follower = c.followers(fx.leader)[0]
	if err := call(fx.leader, MethodKVApply, kvSet(key, "1"), &fx.set); err != nil {
		t.Fatal(err)
	}
	fx.watch = func(on *testServer) {
		go func() {
			var resp pb.KVGetResponse
			req := &pb.KVGetRequest{Key: key, Query: &pb.QueryOptions{MinIndex: fx.set.Index, MaxWaitNanos: int64(wait)}}
			if err := call(on, MethodKVGet, req, &resp); err != nil {
				t.Error(err)
			}
			fx.got <- &resp
		}()
	}
	return fx
}

// Identical blocking queries wait as one query and get the same answer,
// with the index of the write that woke them. A follower forwards them to
// the leader (so they learn of the write as soon as the leader applies
// it) as one query too; those that joined it on the way before the leader
// read its answer get that answer.
func TestSharedBlockingQueries(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const n = 40
		fx := newSharedFixture(t, "w", n, time.Minute)
		leader, f, got, watch := fx.leader, fx.follower, fx.got, fx.watch
		// The others arrive while the first of each server waits (those
		// arriving while it reads start their own).
		watch(leader)
		waitFor(t, "the leader's first query waiting", func() error {
			if openCalls(leader.Server) != 1 {
				return errors.New("not open yet")
			}
			return nil
		})
		watch(f)
		waitFor(t, "the follower's first query waiting", func() error {
			if openCalls(f.Server) != 1 {
				return errors.New("not open yet")
			}
			if _, m := sharedCalls(leader.Server); m != 2 {
				return fmt.Errorf("the leader's query has %d members", m)
			}
			return nil
		})
		f.calls.count(MethodKVGet)
		for i := range n - 2 {
			if i%2 == 0 {
				watch(leader)
			} else {
				watch(f)
			}
		}
		waitFor(t, "one shared query on each server", func() error {
			lc, lm := sharedCalls(leader.Server)
			fc, fm := sharedCalls(f.Server)
			if lc != 1 || lm != n/2+1 || fc != 1 || fm != n/2 {
				return fmt.Errorf("leader: %d queries, %d members; follower: %d, %d", lc, lm, fc, fm)
			}
			return nil
		})
		var second pb.KVApplyResponse
		if err := call(leader, MethodKVApply, kvSet("w", "2"), &second); err != nil {
			t.Fatal(err)
		}
		for range n {
			r := <-got
			if len(r.Entries) != 1 || string(r.Entries[0].Value) != "2" || r.Meta.Index != second.Index {
				t.Fatalf("woke with %v, want value 2 at index %d", r, second.Index)
			}
		}
		if calls, _ := sharedCalls(leader.Server); calls != 0 {
			t.Fatalf("%d shared queries left after the answer", calls)
		}
		// Every member joined the follower's query before the leader
		// read the answer (the leader says how long after the forward
		// arrived it read): no fresh read.
		if fwd := f.calls.count(MethodKVGet); fwd != 0 {
			t.Fatalf("the follower forwarded %d more reads, want none (all joined before the leader's read)", fwd)
		}
	})
}

// A forwarded query whose wait runs out is answered with the read made
// when it began, before the follower's other watchers joined it: the
// leader says so (the read came at once after the call arrived), and the
// follower reads again for them.
func TestSharedQueryTimeoutRereads(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const n = 5
		fx := newSharedFixture(t, "t", n, 10*time.Second)
		f, set, got := fx.follower, &fx.set, fx.got
		watch := func() { fx.watch(f) }
		watch()
		waitFor(t, "the follower's first query waiting", func() error {
			if openCalls(f.Server) != 1 {
				return errors.New("not open yet")
			}
			return nil
		})
		f.calls.count(MethodKVGet)
		time.Sleep(time.Second)
		for range n - 1 {
			watch()
		}
		waitFor(t, "one shared query on the follower", func() error {
			if fc, fm := sharedCalls(f.Server); fc != 1 || fm != n {
				return fmt.Errorf("follower: %d queries, %d members", fc, fm)
			}
			return nil
		})
		for range n {
			if r := <-got; r.Meta.GetIndex() != set.Index || len(r.Entries) != 1 {
				t.Fatalf("timed-out read answered %v, want the value at index %d", r, set.Index)
			}
		}
		if fwd := f.calls.count(MethodKVGet); fwd != 1 {
			t.Fatalf("the follower forwarded %d more reads, want one (the fresh read of those that joined)", fwd)
		}
	})
}

// Queries with different tokens never share an answer: each sees what its
// own token may read; and a change of ACL state keys new queries apart
// from those started before it.
func TestSharedQueriesKeepTokensApart(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 1, func(cfg *Config) {
			cfg.ACL = ACLConfig{Enabled: true, InitialManagement: "root"}
		})
		s := c.waitLeader()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		apply := func(cmd *pb.ACLCommand) {
			t.Helper()
			if _, err := s.raftApply(ctx, &pb.Command{Cmd: &pb.Command_Acl{Acl: cmd}}); err != nil {
				t.Fatal(err)
			}
		}
		apply(&pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: &pb.ACLPolicy{Id: "all", Name: "all", Rules: `key_prefix "app/" { policy = "read" }`}}})
		apply(&pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: &pb.ACLPolicy{Id: "open", Name: "open", Rules: `key_prefix "app/open" { policy = "read" }`}}})
		apply(&pb.ACLCommand{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{AccessorId: "a", SecretId: "secret-all", Policies: []*pb.ACLLink{{Id: "all"}}}}})
		apply(&pb.ACLCommand{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{AccessorId: "o", SecretId: "secret-open", Policies: []*pb.ACLLink{{Id: "open"}}}}})
		put := func(key string) uint64 {
			t.Helper()
			req := kvSet(key, "v")
			req.Write = &pb.WriteOptions{Token: "root"}
			var resp pb.KVApplyResponse
			if err := call(s, MethodKVApply, req, &resp); err != nil {
				t.Fatal(err)
			}
			return resp.Index
		}
		put("app/open")
		idx := put("app/secret")

		type answer struct {
			token string
			resp  *pb.KVGetResponse
		}
		got := make(chan answer, 4)
		for i, token := range []string{"secret-all", "secret-open", "secret-all", "secret-open"} {
			if i == 2 {
				waitFor(t, "both first queries waiting", func() error {
					if n := openCalls(s.Server); n != 2 {
						return fmt.Errorf("%d open", n)
					}
					return nil
				})
			}
			go func() {
				var resp pb.KVGetResponse
				req := &pb.KVGetRequest{Key: "app/", Recurse: true, Query: &pb.QueryOptions{Token: token, MinIndex: idx, MaxWaitNanos: int64(time.Minute)}}
				if err := call(s, MethodKVGet, req, &resp); err != nil {
					t.Error(err)
				}
				got <- answer{token, &resp}
			}()
		}
		waitFor(t, "two shared queries, one per token", func() error {
			if calls, members := sharedCalls(s.Server); calls != 2 || members != 4 {
				return fmt.Errorf("%d queries, %d members", calls, members)
			}
			return nil
		})
		last := put("app/secret2")
		for range 4 {
			a := <-got
			var keys []string
			for _, e := range a.resp.Entries {
				keys = append(keys, e.Key)
			}
			want, filtered := "[app/open app/secret app/secret2]", false
			if a.token == "secret-open" {
				want, filtered = "[app/open]", true
			}
			if fmt.Sprint(keys) != want || a.resp.Meta.ResultsFilteredByAcls != filtered || a.resp.Meta.Index != last {
				t.Errorf("%s got %v (filtered %v, index %d), want %s (filtered %v, index %d)",
					a.token, keys, a.resp.Meta.ResultsFilteredByAcls, a.resp.Meta.Index, want, filtered, last)
			}
		}

		req := &pb.KVGetRequest{Key: "app/", Recurse: true, Query: &pb.QueryOptions{Token: "secret-all", MinIndex: last}}
		before := s.sharedKey(ctx, MethodKVGet, req)
		if again := s.sharedKey(ctx, MethodKVGet, req); again != before || before == "" {
			t.Fatal("the same request under the same ACL state has different keys")
		}
		apply(&pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: &pb.ACLPolicy{Id: "other", Name: "other", Rules: `key "x" { policy = "read" }`}}})
		if after := s.sharedKey(ctx, MethodKVGet, req); after == before {
			t.Fatal("a query after an ACL change may join one whose token was checked before it")
		}
	})
}

// A query takes members only while it waits for a change: one arriving
// before (or after) that runs its own, so every member's answer is read
// after it arrived. A member that leaves does not end the query for the
// others.
func TestSharedQueryJoinWindow(t *testing.T) {
	var sq sharedQueries
	newResp := func() proto.Message { return &pb.KVGetResponse{} }
	const key = "k"
	opened, wake := make(chan struct{}), make(chan struct{})
	var runs sync.WaitGroup
	ran := make(chan string, 3)
	run := func(name string) func(ctx context.Context, resp proto.Message) error {
		return func(ctx context.Context, resp proto.Message) error {
			ran <- name
			if name != "first" {
				return nil
			}
			setJoinable(ctx, true)
			close(opened)
			<-wake
			setJoinable(ctx, false)
			resp.(*pb.KVGetResponse).Meta = &pb.QueryMeta{Index: 7}
			return nil
		}
	}
	firstCtx, leaveFirst := context.WithCancel(context.Background())
	defer leaveFirst()
	results := make(chan proto.Message, 2)
	runs.Add(1)
	go func() {
		defer runs.Done()
		sq.do(firstCtx, key, true, newResp, run("first"), nil)
	}()
	<-opened
	runs.Add(1)
	go func() {
		defer runs.Done()
		r, _, _, _, err := sq.do(context.Background(), key, true, newResp, run("joiner"), nil)
		if err != nil {
			t.Error(err)
		}
		results <- r
	}()
	// Wait until the joiner is a member, then let the first caller go:
	// the query goes on for the joiner.
	waitFor(t, "the joiner a member", func() error {
		sq.mu.Lock()
		defer sq.mu.Unlock()
		if m := sq.calls[key].members; m != 2 {
			return fmt.Errorf("%d members", m)
		}
		return nil
	})
	leaveFirst()
	members := func() int {
		sq.mu.Lock()
		defer sq.mu.Unlock()
		if c := sq.calls[key]; c != nil && c.joinable {
			return c.members
		}
		return -1
	}
	waitFor(t, "one member left", func() error {
		if m := members(); m != 1 {
			return fmt.Errorf("%d members", m)
		}
		return nil
	})
	// Once the query reads again, a newcomer runs its own.
	sq.mu.Lock()
	sq.calls[key].joinable = false
	sq.mu.Unlock()
	if _, sole, _, _, err := sq.do(context.Background(), key, true, newResp, run("late"), nil); err != nil || !sole {
		t.Fatal(err)
	}
	close(wake)
	runs.Wait()
	close(ran)
	var names []string
	for n := range ran {
		names = append(names, n)
	}
	if fmt.Sprint(names) != "[first late]" {
		t.Fatalf("queries run: %v, want [first late] (the joiner shares the first)", names)
	}
	if r := <-results; r.(*pb.KVGetResponse).GetMeta().GetIndex() != 7 {
		t.Fatalf("joiner got %v", r)
	}
	if len(sq.calls) != 0 {
		t.Fatalf("%d queries left", len(sq.calls))
	}
}

// fakeServer answers ForwardedQueries' calls as a server would: it
// counts them by kind ("blocking" or "fresh") and token, holds blocking
// ones until release is closed and then notes readAfter for them, and
// answers index 9 with the kind as the value.
type fakeServer struct {
	release   chan struct{}
	readAfter time.Duration
	mu        sync.Mutex
	calls     map[string]int
}

func newFakeServer(readAfter time.Duration) *fakeServer {
	return &fakeServer{release: make(chan struct{}), readAfter: readAfter, calls: map[string]int{}}
}

func (s *fakeServer) call(ctx context.Context, req, resp proto.Message) error {
	q := req.(*pb.KVGetRequest).Query
	kind := "blocking"
	if q.MinIndex == 1 && q.MaxWaitNanos == 1 {
		kind = "fresh"
	}
	s.mu.Lock()
	s.calls[kind+"/"+q.Token]++
	s.mu.Unlock()
	if kind == "blocking" {
		<-s.release
		rpc.NoteReadAfter(ctx, s.readAfter)
	}
	resp.(*pb.KVGetResponse).Meta = &pb.QueryMeta{Index: 9}
	resp.(*pb.KVGetResponse).Entries = []*pb.KVEntry{{Key: "k", Value: []byte(kind)}}
	return nil
}

// made is the calls made so far.
func (s *fakeServer) made() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.calls)
}

// A client agent's identical blocking queries make one call to a server;
// those that joined it on the way get one fresh read together, made after
// they all arrived; another token's query is never joined.
func TestForwardedQueries(t *testing.T) {
	var f ForwardedQueries
	srv := newFakeServer(0)
	call, release := srv.call, srv.release
	const n = 10
	type answer struct {
		token string
		resp  *pb.KVGetResponse
	}
	got := make(chan answer, n+1)
	ask := func(token string) {
		go func() {
			var resp pb.KVGetResponse
			req := &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{Token: token, MinIndex: 5, MaxWaitNanos: int64(time.Minute)}}
			if err := f.Call(context.Background(), MethodKVGet, req, &resp, call); err != nil {
				t.Error(err)
			}
			got <- answer{token, &resp}
		}()
	}
	members := func() int {
		f.sq.mu.Lock()
		defer f.sq.mu.Unlock()
		return f.sq.members
	}
	membersAre := func(want int) func() error {
		return func() error {
			if m := members(); m != want {
				return fmt.Errorf("%d members, want %d", m, want)
			}
			return nil
		}
	}
	ask("a")
	waitFor(t, "the first request waiting", membersAre(1))
	for range n - 1 {
		ask("a")
	}
	ask("b")
	waitFor(t, "every request waiting", membersAre(n+1))
	close(release)
	for range n + 1 {
		a := <-got
		want := "fresh"
		if a.token == "b" {
			want = "blocking" // alone: its own answer, read after it arrived
		}
		if len(a.resp.Entries) != 1 || string(a.resp.Entries[0].Value) != want || a.resp.Meta.Index != 9 {
			t.Errorf("token %s got %v, want the %s answer", a.token, a.resp, want)
		}
	}
	if made := srv.made(); made != "map[blocking/a:1 blocking/b:1 fresh/a:1]" {
		t.Fatalf("calls made: %v", made)
	}
	// Not a blocking read: called alone.
	var resp pb.KVGetResponse
	plain := 0
	if err := f.Call(context.Background(), MethodKVGet, &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{}}, &resp, func(ctx context.Context, req, resp proto.Message) error {
		plain++
		return nil
	}); err != nil || plain != 1 {
		t.Fatalf("plain read: %v, %d calls", err, plain)
	}
}

// A forwarded query whose server says when it read the answer (how long
// after the call arrived) answers those that joined it on the way before
// that; if any joined after, or the server said nothing (an older one),
// all get a fresh read.
func TestForwardedQueriesReadAfter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		readAfter time.Duration
		want      string
	}{
		{"read long after all joined", time.Hour, "blocking"},
		{"not said", 0, "fresh"},
		{"read before they joined", time.Nanosecond, "fresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f ForwardedQueries
			srv := newFakeServer(tc.readAfter)
			call := srv.call
			const n = 5
			got := make(chan *pb.KVGetResponse, n)
			ask := func() {
				go func() {
					var resp pb.KVGetResponse
					req := &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{MinIndex: 5, MaxWaitNanos: int64(time.Minute)}}
					if err := f.Call(context.Background(), MethodKVGet, req, &resp, call); err != nil {
						t.Error(err)
					}
					got <- &resp
				}()
			}
			membersAre := func(want int) func() error {
				return func() error {
					f.sq.mu.Lock()
					defer f.sq.mu.Unlock()
					if f.sq.members != want {
						return fmt.Errorf("%d members, want %d", f.sq.members, want)
					}
					return nil
				}
			}
			ask()
			waitFor(t, "the first request waiting", membersAre(1))
			for range n - 1 {
				ask()
			}
			waitFor(t, "every request waiting", membersAre(n))
			close(srv.release)
			for range n {
				r := <-got
				if len(r.Entries) != 1 || string(r.Entries[0].Value) != tc.want {
					t.Fatalf("got %v, want the %s answer", r, tc.want)
				}
			}
			want := map[string]int{"blocking/": 1}
			if tc.want == "fresh" {
				want["fresh/"] = 1
			}
			if made := srv.made(); made != fmt.Sprint(want) {
				t.Fatalf("calls made: %v, want %v", made, want)
			}
		})
	}
}

// A blocking query that comes back to the server that forwarded it never
// joins the query it came from, which would wait on itself: two followers
// each taking the other for the leader (a leader change that they saw at
// different times) sent it round; its watchers hung, pinged sessions
// alive, until their clients gave up, while writes went on without them.
// The one that came back runs as a query of its own and reaches the
// leader once the views agree.
func TestSharedQueryForwardLoopDoesNotWaitOnItself(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		fs := c.followers(leader)
		a, b := fs[0], fs[1]
		var set pb.KVApplyResponse
		if err := call(leader, MethodKVApply, kvSet("w", "1"), &set); err != nil {
			t.Fatal(err)
		}
		// Each follower's first forwarded read goes to the other one, as
		// if it led; later ones go to the leader.
		misdirect := func(from, to *testServer) {
			first := true
			from.calls.setRedirect(func(addr, method string) string {
				if method == MethodKVGet && first {
					first = false
					return to.addr
				}
				return addr
			})
		}
		misdirect(a, b)
		misdirect(b, a)
		a.calls.count(MethodKVGet)
		b.calls.count(MethodKVGet)
		got := make(chan error, 1)
		var resp pb.KVGetResponse
		go func() {
			req := &pb.KVGetRequest{Key: "w", Query: &pb.QueryOptions{MinIndex: set.Index, MaxWaitNanos: int64(time.Minute)}}
			got <- call(a, MethodKVGet, req, &resp)
		}()
		waitFor(t, "the query to reach the leader past the loop", func() error {
			if openCalls(leader.Server) != 1 {
				return errors.New("no query waiting on the leader")
			}
			return nil
		})
		if fa, fb := a.calls.count(MethodKVGet), b.calls.count(MethodKVGet); fa != 2 || fb != 1 {
			t.Fatalf("forwards: %d from the first follower, %d from the second; want 2 (to the other, then the leader) and 1", fa, fb)
		}
		var second pb.KVApplyResponse
		if err := call(leader, MethodKVApply, kvSet("w", "2"), &second); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the watcher did not wake within 5 s of the write")
		}
		if len(resp.Entries) != 1 || string(resp.Entries[0].Value) != "2" || resp.Meta.Index != second.Index {
			t.Fatalf("woke with %v, want value 2 at index %d", &resp, second.Index)
		}
	})
}

// TestMemoMakesOnce: members asking a shared query's Memo at once get the
// one value the first made; a nil Memo makes a value per call.
func TestMemoMakesOnce(t *testing.T) {
	var m Memo
	var made atomic.Int32
	var wg sync.WaitGroup
	got := make([]any, 32)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = m.Do(func() any { made.Add(1); return new(int) })
		}()
	}
	wg.Wait()
	if made.Load() != 1 {
		t.Fatalf("made %d times", made.Load())
	}
	for _, v := range got {
		if v != got[0] {
			t.Fatal("members got different values")
		}
	}
	var none *Memo
	if none.Do(func() any { return new(int) }) == none.Do(func() any { return new(int) }) {
		t.Fatal("a nil Memo kept its value")
	}
}

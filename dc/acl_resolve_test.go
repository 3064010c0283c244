package dc

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/store"
)

// aclTestServer is a server with ACLs on (deny by default) over a store
// holding one policy for app/ and a token for it; resolution needs
// nothing else of a server.
func aclTestServer(tb testing.TB) (*Server, *store.Store) {
	tb.Helper()
	st, err := store.New()
	if err != nil {
		tb.Fatal(err)
	}
	apply := func(idx uint64, c *pb.ACLCommand) {
		b, err := proto.Marshal(&pb.Command{Cmd: &pb.Command_Acl{Acl: c}})
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.Apply(idx, b).Err; err != nil {
			tb.Fatal(err)
		}
	}
	apply(1, &pb.ACLCommand{Op: &pb.ACLCommand_PolicySet{PolicySet: &pb.ACLPolicy{Id: "p", Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}}})
	apply(2, &pb.ACLCommand{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{AccessorId: "a", SecretId: "s", Policies: []*pb.ACLLink{{Id: "p"}}}}})
	return &Server{cfg: Config{ACL: ACLConfig{Enabled: true}}, store: st, log: slog.New(slog.DiscardHandler)}, st
}

// TestResolveTokenCache: a resolved token is served from the cache, and
// any ACL change (here the token's deletion) is seen by the next call.
func TestResolveTokenCache(t *testing.T) {
	s, st := aclTestServer(t)
	ctx := context.Background()
	id, err := s.ResolveToken(ctx, "s")
	if err != nil || id.AccessorID != "a" || !id.Authorizer.Allowed(acl.ResourceKey, "app/x", acl.AccessWrite) ||
		id.Authorizer.Allowed(acl.ResourceKey, "other/x", acl.AccessRead) {
		t.Fatalf("resolve: %+v %v", id, err)
	}
	again, _ := s.ResolveToken(ctx, "s")
	if again.Authorizer != id.Authorizer {
		t.Fatal("second resolution not served from the cache")
	}
	b, _ := proto.Marshal(&pb.Command{Cmd: &pb.Command_Acl{Acl: &pb.ACLCommand{Op: &pb.ACLCommand_TokenDelete{TokenDelete: "a"}}}})
	if err := st.Apply(3, b).Err; err != nil {
		t.Fatal(err)
	}
	s.aclCache.mu.Lock()
	current := s.aclCache.current()
	s.aclCache.mu.Unlock()
	if current {
		t.Fatal("the cache still holds tokens after an ACL change")
	}
	// (Resolving the deleted secret would ask the leader for a read
	// index first; the cluster tests cover that path.)
	anon, err := s.ResolveToken(ctx, "")
	if err != nil || anon.AccessorID != AnonymousTokenID || anon.Authorizer.Allowed(acl.ResourceKey, "app/x", acl.AccessRead) {
		t.Fatalf("anonymous under deny: %+v %v", anon, err)
	}
}

// BenchmarkResolveToken is the ACL cost a request pays on a server: a
// cached resolution and one check.
func BenchmarkResolveToken(b *testing.B) {
	s, _ := aclTestServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := s.ResolveToken(ctx, "s")
			if err != nil || !id.Authorizer.Allowed(acl.ResourceKey, "app/x", acl.AccessRead) {
				b.Fatal("not allowed")
			}
		}
	})
}

package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/meridian-io/meridian/pb"
)

func aclCmd(t *testing.T, s *Store, idx uint64, c *pb.ACLCommand) error {
	t.Helper()
	return s.Apply(idx, mustMarshal(t, &pb.Command{Cmd: &pb.Command_Acl{Acl: c}, NowUnixNano: 1000})).Err
}

func TestACLApplyAndSnapshot(t *testing.T) {
	s := newTestStore(t)
	root := &pb.ACLToken{AccessorId: "a-root", SecretId: "s-root", Policies: []*pb.ACLLink{{Id: "global-management"}}}
	if err := aclCmd(t, s, 1, &pb.ACLCommand{Op: &pb.ACLCommand_Bootstrap{Bootstrap: root}}); err != nil {
		t.Fatal(err)
	}
	err := aclCmd(t, s, 2, &pb.ACLCommand{Op: &pb.ACLCommand_Bootstrap{Bootstrap: &pb.ACLToken{AccessorId: "x", SecretId: "y"}}})
	if !errors.Is(err, ErrACLBootstrapDone) {
		t.Fatalf("second bootstrap: %v", err)
	}
	steps := []*pb.ACLCommand{
		{Op: &pb.ACLCommand_PolicySet{PolicySet: &pb.ACLPolicy{Id: "p1", Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}}},
		{Op: &pb.ACLCommand_RoleSet{RoleSet: &pb.ACLRole{Id: "r1", Name: "ops", Policies: []*pb.ACLLink{{Id: "p1"}}}}},
		{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{AccessorId: "a1", SecretId: "s1", Policies: []*pb.ACLLink{{Id: "p1"}}}}},
	}
	for i, c := range steps {
		if err := aclCmd(t, s, uint64(3+i), c); err != nil {
			t.Fatal(err)
		}
	}
	bad := []*pb.ACLCommand{
		{Op: &pb.ACLCommand_PolicySet{PolicySet: &pb.ACLPolicy{Id: "p2", Name: "APP"}}},         // name taken
		{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{AccessorId: "a2", SecretId: "s1"}}}, // secret taken
		{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{AccessorId: "a1", SecretId: "s9"}}}, // secret changed
		{Op: &pb.ACLCommand_TokenSet{TokenSet: &pb.ACLToken{SecretId: "s9"}}},
		{},
	}
	for _, c := range bad {
		if err := aclCmd(t, s, 9, c); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%v: err %v, want ErrBadCommand", c, err)
		}
	}
	if tok, _ := s.ACLTokenBySecret(nil, "s1"); tok == nil || tok.AccessorId != "a1" || tok.CreateTimeUnixNano != 1000 || tok.CreateIndex != 5 {
		t.Fatalf("token by secret: %v", tok)
	}
	if got := s.ACLIndex(nil); got != 5 {
		t.Fatalf("ACL index %d, want 5", got)
	}

	var buf bytes.Buffer
	snap := s.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	restored := newTestStore(t)
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if ok, _ := restored.ACLBootstrapped(); !ok {
		t.Error("bootstrap state lost in the snapshot")
	}
	_, toks, _ := restored.ACLTokens(nil)
	_, pols, _ := restored.ACLPolicies(nil)
	_, roles, _ := restored.ACLRoles(nil)
	if len(toks) != 2 || len(pols) != 1 || len(roles) != 1 || restored.ACLIndex(nil) != 5 {
		t.Fatalf("restored %d tokens, %d policies, %d roles, index %d", len(toks), len(pols), len(roles), restored.ACLIndex(nil))
	}
	if _, p, _ := restored.ACLPolicy(nil, "app", true); p == nil || p.Id != "p1" {
		t.Fatalf("policy by name: %v", p)
	}

	if err := aclCmd(t, s, 10, &pb.ACLCommand{Op: &pb.ACLCommand_TokenDelete{TokenDelete: "a1"}}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.ACLTokenBySecret(nil, "s1"); tok != nil {
		t.Fatal("deleted token still resolves")
	}
	if got := s.ACLIndex(nil); got != 10 {
		t.Fatalf("ACL index after delete %d, want 10", got)
	}
}

// TestACLWatch: the watches of ACL state fire on an ACL change and on a
// restore, not on other writes.
func TestACLWatch(t *testing.T) {
	s := newTestStore(t)
	fired := func(chs []<-chan struct{}) bool {
		for _, ch := range chs {
			select {
			case <-ch:
				return true
			default:
			}
		}
		return false
	}
	_, chs := s.ACLWatch()
	if err := s.Apply(1, mustMarshal(t, &pb.Command{Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "k"}}}})).Err; err != nil {
		t.Fatal(err)
	}
	if fired(chs) {
		t.Fatal("a KV write fired the ACL watches")
	}
	if err := aclCmd(t, s, 2, &pb.ACLCommand{Op: &pb.ACLCommand_RoleSet{RoleSet: &pb.ACLRole{Id: "r", Name: "r"}}}); err != nil {
		t.Fatal(err)
	}
	if !fired(chs) {
		t.Fatal("an ACL write did not fire the ACL watches")
	}
	idx, chs := s.ACLWatch()
	if idx != 2 {
		t.Fatalf("index %d, want 2", idx)
	}
	var buf bytes.Buffer
	snap := s.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	if err := s.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if !fired(chs) {
		t.Fatal("a restore did not fire the ACL watches")
	}
}

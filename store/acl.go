package store

import (
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// ACL tables. The bootstrap state is one row of tableACLBootstrap.
const (
	tableACLTokens    = "acl_tokens"
	tableACLPolicies  = "acl_policies"
	tableACLRoles     = "acl_roles"
	tableACLBootstrap = "acl_bootstrap"
)

// ACLTables are the tables whose index moves on any ACL change: a cache of
// resolved tokens is current while their index stands.
var ACLTables = []string{tableACLTokens, tableACLPolicies, tableACLRoles, tableACLBootstrap}

// ErrACLBootstrapDone refuses a second bootstrap.
var ErrACLBootstrapDone = errors.New("ACL bootstrap no longer allowed")

// aclBootstrapRow holds the bootstrap state.
type aclBootstrapRow struct {
	ID    string
	State *pb.ACLBootstrapState
}

func aclSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		tableACLTokens: {
			Name: tableACLTokens,
			Indexes: map[string]*memdb.IndexSchema{
				"id":     {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "AccessorId", Lowercase: true}},
				"secret": {Name: "secret", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "SecretId"}},
			},
		},
		tableACLPolicies: {
			Name: tableACLPolicies,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Id", Lowercase: true}},
				"name": {Name: "name", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name", Lowercase: true}},
			},
		},
		tableACLRoles: {
			Name: tableACLRoles,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Id", Lowercase: true}},
				"name": {Name: "name", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Name", Lowercase: true}},
			},
		},
		tableACLBootstrap: {
			Name: tableACLBootstrap,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
	}
}

func first[T any](tx *memdb.Txn, ws memdb.WatchSet, table, index, arg string) (T, error) {
	var zero T
	ch, raw, err := tx.FirstWatch(table, index, arg)
	if err != nil {
		return zero, err
	}
	ws.Add(ch)
	if raw == nil {
		return zero, nil
	}
	return raw.(T), nil
}

// applyACL applies one ACL write at idx.
func applyACL(tx *memdb.Txn, idx uint64, now int64, c *pb.ACLCommand) error {
	switch op := c.GetOp().(type) {
	case *pb.ACLCommand_Bootstrap:
		row, err := first[*aclBootstrapRow](tx, nil, tableACLBootstrap, "id", "bootstrap")
		if err != nil {
			return err
		}
		if row != nil && row.State.GetDone() {
			return fmt.Errorf("%w: %w", ErrBadCommand, ErrACLBootstrapDone)
		}
		if err := aclTokenSet(tx, idx, now, op.Bootstrap); err != nil {
			return err
		}
		if err := tx.Insert(tableACLBootstrap, &aclBootstrapRow{ID: "bootstrap", State: &pb.ACLBootstrapState{Done: true, Index: idx}}); err != nil {
			return err
		}
		return setIndex(tx, tableACLBootstrap, idx)
	case *pb.ACLCommand_TokenSet:
		return aclTokenSet(tx, idx, now, op.TokenSet)
	case *pb.ACLCommand_TokenDelete:
		return aclDelete(tx, idx, tableACLTokens, op.TokenDelete)
	case *pb.ACLCommand_PolicySet:
		in := op.PolicySet
		if in.GetId() == "" || in.GetName() == "" {
			return fmt.Errorf("%w: ACL policy without an id or name", ErrBadCommand)
		}
		if other, err := first[*pb.ACLPolicy](tx, nil, tableACLPolicies, "name", in.Name); err != nil {
			return err
		} else if other != nil && other.Id != in.Id {
			return fmt.Errorf("%w: Invalid Policy: A Policy with Name %q already exists", ErrBadCommand, in.Name)
		}
		p := proto.Clone(in).(*pb.ACLPolicy)
		old, err := first[*pb.ACLPolicy](tx, nil, tableACLPolicies, "id", in.Id)
		if err != nil {
			return err
		}
		p.CreateIndex, p.ModifyIndex = idx, idx
		if old != nil {
			p.CreateIndex = old.CreateIndex
		}
		if err := tx.Insert(tableACLPolicies, p); err != nil {
			return err
		}
		return setIndex(tx, tableACLPolicies, idx)
	case *pb.ACLCommand_PolicyDelete:
		return aclDelete(tx, idx, tableACLPolicies, op.PolicyDelete)
	case *pb.ACLCommand_RoleSet:
		in := op.RoleSet
		if in.GetId() == "" || in.GetName() == "" {
			return fmt.Errorf("%w: ACL role without an id or name", ErrBadCommand)
		}
		if other, err := first[*pb.ACLRole](tx, nil, tableACLRoles, "name", in.Name); err != nil {
			return err
		} else if other != nil && other.Id != in.Id {
			return fmt.Errorf("%w: Invalid Role: A Role with Name %q already exists", ErrBadCommand, in.Name)
		}
		r := proto.Clone(in).(*pb.ACLRole)
		old, err := first[*pb.ACLRole](tx, nil, tableACLRoles, "id", in.Id)
		if err != nil {
			return err
		}
		r.CreateIndex, r.ModifyIndex = idx, idx
		if old != nil {
			r.CreateIndex = old.CreateIndex
		}
		if err := tx.Insert(tableACLRoles, r); err != nil {
			return err
		}
		return setIndex(tx, tableACLRoles, idx)
	case *pb.ACLCommand_RoleDelete:
		return aclDelete(tx, idx, tableACLRoles, op.RoleDelete)
	}
	return fmt.Errorf("%w: empty ACL command", ErrBadCommand)
}

func aclTokenSet(tx *memdb.Txn, idx uint64, now int64, in *pb.ACLToken) error {
	if in.GetAccessorId() == "" || in.GetSecretId() == "" {
		return fmt.Errorf("%w: ACL token without an accessor or secret", ErrBadCommand)
	}
	if other, err := first[*pb.ACLToken](tx, nil, tableACLTokens, "secret", in.SecretId); err != nil {
		return err
	} else if other != nil && other.AccessorId != in.AccessorId {
		return fmt.Errorf("%w: Invalid Token: SecretID is already in use", ErrBadCommand)
	}
	old, err := first[*pb.ACLToken](tx, nil, tableACLTokens, "id", in.AccessorId)
	if err != nil {
		return err
	}
	t := proto.Clone(in).(*pb.ACLToken)
	t.CreateIndex, t.ModifyIndex = idx, idx
	if old != nil {
		if old.SecretId != in.SecretId {
			return fmt.Errorf("%w: Cannot change a token's SecretID", ErrBadCommand)
		}
		t.CreateIndex, t.CreateTimeUnixNano = old.CreateIndex, old.CreateTimeUnixNano
	} else if t.CreateTimeUnixNano == 0 {
		t.CreateTimeUnixNano = now
	}
	if err := tx.Insert(tableACLTokens, t); err != nil {
		return err
	}
	return setIndex(tx, tableACLTokens, idx)
}

// aclDelete removes the row of table with id; deleting what is not there
// succeeds, as Consul's does.
func aclDelete(tx *memdb.Txn, idx uint64, table, id string) error {
	raw, err := tx.First(table, "id", id)
	if err != nil || raw == nil {
		return err
	}
	if err := tx.Delete(table, raw); err != nil {
		return err
	}
	return setIndex(tx, table, idx)
}

// ACLWatch returns the last index that changed any ACL table and
// channels of which one closes when that changes (or the store is
// replaced by a restore): a cache of resolved tokens is current while
// none has closed, which costs no read of the database to check.
func (s *Store) ACLWatch() (uint64, []<-chan struct{}) {
	st := s.cur.Load()
	tx := st.db.Txn(false)
	chs := []<-chan struct{}{st.abandonCh}
	// Each table's own watch: it fires on a change to that table only
	// (a watch on a missing index row would fire on every write).
	for _, t := range ACLTables {
		it, err := tx.Get(t, "id")
		if err != nil {
			// Cannot watch: a closed channel keeps the cache empty.
			closed := make(chan struct{})
			close(closed)
			return 0, []<-chan struct{}{closed}
		}
		chs = append(chs, it.WatchCh())
	}
	return maxIndex(tx, nil, ACLTables...), chs
}

// ACLIndex is the last index that changed any ACL table.
func (s *Store) ACLIndex(ws memdb.WatchSet) uint64 {
	return maxIndex(s.readTxn(), ws, ACLTables...)
}

// ACLBootstrapped reports whether the ACL system was bootstrapped.
func (s *Store) ACLBootstrapped() (bool, error) {
	row, err := first[*aclBootstrapRow](s.readTxn(), nil, tableACLBootstrap, "id", "bootstrap")
	return row != nil && row.State.GetDone(), err
}

// ACLTokenBySecret returns the token with secret, or nil.
func (s *Store) ACLTokenBySecret(ws memdb.WatchSet, secret string) (*pb.ACLToken, error) {
	return first[*pb.ACLToken](s.readTxn(), ws, tableACLTokens, "secret", secret)
}

// ACLToken returns the token with accessor id, or nil.
func (s *Store) ACLToken(ws memdb.WatchSet, accessor string) (uint64, *pb.ACLToken, error) {
	tx := s.readTxn()
	t, err := first[*pb.ACLToken](tx, ws, tableACLTokens, "id", accessor)
	return maxIndex(tx, ws, tableACLTokens), t, err
}

// ACLPolicy returns the policy with id (or, when byName, name), or nil.
func (s *Store) ACLPolicy(ws memdb.WatchSet, key string, byName bool) (uint64, *pb.ACLPolicy, error) {
	tx := s.readTxn()
	index := "id"
	if byName {
		index = "name"
	}
	p, err := first[*pb.ACLPolicy](tx, ws, tableACLPolicies, index, key)
	return maxIndex(tx, ws, tableACLPolicies), p, err
}

// ACLRole returns the role with id (or, when byName, name), or nil.
func (s *Store) ACLRole(ws memdb.WatchSet, key string, byName bool) (uint64, *pb.ACLRole, error) {
	tx := s.readTxn()
	index := "id"
	if byName {
		index = "name"
	}
	r, err := first[*pb.ACLRole](tx, ws, tableACLRoles, index, key)
	return maxIndex(tx, ws, tableACLRoles), r, err
}

func listAll[T any](s *Store, ws memdb.WatchSet, table string) (uint64, []T, error) {
	tx := s.readTxn()
	it, err := tx.Get(table, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(T))
	}
	return maxIndex(tx, ws, table), out, nil
}

// ACLTokens lists every token.
func (s *Store) ACLTokens(ws memdb.WatchSet) (uint64, []*pb.ACLToken, error) {
	return listAll[*pb.ACLToken](s, ws, tableACLTokens)
}

// ACLPolicies lists every policy.
func (s *Store) ACLPolicies(ws memdb.WatchSet) (uint64, []*pb.ACLPolicy, error) {
	return listAll[*pb.ACLPolicy](s, ws, tableACLPolicies)
}

// ACLRoles lists every role.
func (s *Store) ACLRoles(ws memdb.WatchSet) (uint64, []*pb.ACLRole, error) {
	return listAll[*pb.ACLRole](s, ws, tableACLRoles)
}

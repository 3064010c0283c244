package store

import (
	"fmt"
	"sort"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// TemplateNamePrefixMatch is the one template type: the query answers
// every name that starts with its own.
const TemplateNamePrefixMatch = "name_prefix_match"

func preparedQueryFirst(tx *memdb.Txn, index, value string) (*pb.PreparedQuery, error) {
	raw, err := tx.First(tablePreparedQueries, index, value)
	if err != nil {
		return nil, fmt.Errorf("prepared queries: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*pb.PreparedQuery), nil
}

// applyPreparedQuery creates, updates or deletes one prepared query. As
// Consul does, a name may belong to one query only and may not be another
// query's ID, a session must exist, and only an existing query can be
// updated or deleted. Validation of the query's contents happens before
// the log (dc); what is checked here depends on the state.
func applyPreparedQuery(tx *memdb.Txn, idx uint64, in *pb.PreparedQueryApply) error {
	q := in.GetQuery()
	if q.GetId() == "" {
		return fmt.Errorf("%w: prepared query without an ID", ErrBadCommand)
	}
	existing, err := preparedQueryFirst(tx, "id", q.Id)
	if err != nil {
		return err
	}
	switch in.GetOp() {
	case pb.PreparedQueryOp_PREPARED_QUERY_DELETE:
		if existing == nil {
			return fmt.Errorf("%w: Cannot delete non-existent prepared query: '%s'", ErrBadCommand, q.Id)
		}
		if err := tx.Delete(tablePreparedQueries, existing); err != nil {
			return fmt.Errorf("prepared queries: %w", err)
		}
		return setIndex(tx, tablePreparedQueries, idx)
	case pb.PreparedQueryOp_PREPARED_QUERY_CREATE:
		if existing != nil {
			return fmt.Errorf("%w: prepared query %q exists", ErrBadCommand, q.Id)
		}
	case pb.PreparedQueryOp_PREPARED_QUERY_UPDATE:
		if existing == nil {
			return fmt.Errorf("%w: Cannot modify non-existent prepared query: '%s'", ErrBadCommand, q.Id)
		}
	default:
		return fmt.Errorf("%w: unknown prepared query operation %v", ErrBadCommand, in.GetOp())
	}
	row := proto.Clone(q).(*pb.PreparedQuery)
	row.CreateIndex, row.ModifyIndex = idx, idx
	if existing != nil {
		row.Id = existing.Id
		row.CreateIndex = existing.CreateIndex
	}
	if row.Name != "" {
		other, err := preparedQueryFirst(tx, "name", row.Name)
		if err != nil {
			return err
		}
		if other != nil && other.Id != row.Id {
			return fmt.Errorf("%w: Name '%s' aliases an existing query name", ErrBadCommand, row.Name)
		}
		byID, err := preparedQueryFirst(tx, "id", row.Name)
		if err != nil {
			return err
		}
		if byID != nil && byID.Id != row.Id {
			return fmt.Errorf("%w: Name '%s' aliases an existing query ID", ErrBadCommand, row.Name)
		}
	}
	if row.Session != "" {
		sess, err := sessionFirst(tx, row.Session)
		if err != nil {
			return err
		}
		if sess == nil {
			return fmt.Errorf("%w: Invalid session %q", ErrBadCommand, row.Session)
		}
		row.Session = sess.Id
	}
	if err := tx.Insert(tablePreparedQueries, row); err != nil {
		return fmt.Errorf("prepared queries: %w", err)
	}
	return setIndex(tx, tablePreparedQueries, idx)
}

// deleteSessionQueries removes the prepared queries bound to a session
// that is being invalidated (Consul's behaviour).
func deleteSessionQueries(tx *memdb.Txn, idx uint64, session string) error {
	n, err := tx.DeleteAll(tablePreparedQueries, "session", session)
	if err != nil {
		return fmt.Errorf("prepared queries: %w", err)
	}
	if n == 0 {
		return nil
	}
	return setIndex(tx, tablePreparedQueries, idx)
}

// PreparedQuery returns the query with this ID, or nil.
func (s *Store) PreparedQuery(ws memdb.WatchSet, id string) (uint64, *pb.PreparedQuery, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tablePreparedQueries)
	q, err := preparedQueryFirst(tx, "id", id)
	return idx, q, err
}

// PreparedQueries lists every prepared query, by ID.
func (s *Store) PreparedQueries(ws memdb.WatchSet) (uint64, []*pb.PreparedQuery, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tablePreparedQueries)
	out, err := allPreparedQueries(tx)
	return idx, out, err
}

func allPreparedQueries(tx *memdb.Txn) ([]*pb.PreparedQuery, error) {
	it, err := tx.Get(tablePreparedQueries, "id")
	if err != nil {
		return nil, fmt.Errorf("prepared queries: %w", err)
	}
	var out []*pb.PreparedQuery
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.PreparedQuery))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out, nil
}

// ResolvePreparedQuery finds the query that answers idOrName, Consul's
// way: an exact ID, then an exact name, then the template whose name is
// the longest prefix of idOrName. It returns nil when none does.
func (s *Store) ResolvePreparedQuery(ws memdb.WatchSet, idOrName string) (uint64, *pb.PreparedQuery, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tablePreparedQueries)
	if idOrName == "" {
		return idx, nil, nil
	}
	for _, index := range []string{"id", "name"} {
		q, err := preparedQueryFirst(tx, index, idOrName)
		if err != nil || q != nil {
			return idx, q, err
		}
	}
	all, err := allPreparedQueries(tx)
	if err != nil {
		return 0, nil, err
	}
	var best *pb.PreparedQuery
	lower := strings.ToLower(idOrName)
	for _, q := range all {
		if q.GetTemplate().GetType() != TemplateNamePrefixMatch || !strings.HasPrefix(lower, strings.ToLower(q.Name)) {
			continue
		}
		if best == nil || len(q.Name) > len(best.Name) {
			best = q
		}
	}
	return idx, best, nil
}

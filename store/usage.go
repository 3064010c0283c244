package store

import (
	"slices"
	"sync"
)

// Tables lists the state store's tables (but the index table and the
// KV store's internal ones; the KV store counts as kvs), sorted, for
// metrics.
var Tables = sync.OnceValue(func() []string {
	var out []string
	for name := range schema().Tables {
		switch name {
		case tableIndex, tableKVTree, tableKVSessions:
		default:
			out = append(out, name)
		}
	}
	out = append(out, tableKVs)
	slices.Sort(out)
	return out
})

// TableSizes counts the rows of every table in Tables, in one consistent
// read. It walks each table, so callers cache it rather than call it per
// request.
func (s *Store) TableSizes() map[string]int {
	tx := s.readTxn()
	defer tx.Abort()
	out := make(map[string]int, len(Tables()))
	for _, t := range Tables() {
		if t == tableKVs {
			out[t] = kvRead(tx).Len()
			continue
		}
		it, err := tx.Get(t, "id")
		if err != nil {
			continue
		}
		n := 0
		for obj := it.Next(); obj != nil; obj = it.Next() {
			n++
		}
		out[t] = n
	}
	return out
}

// ChecksByStatus counts the catalog's health checks by status.
func (s *Store) ChecksByStatus() map[string]int {
	tx := s.readTxn()
	defer tx.Abort()
	out := map[string]int{}
	it, err := tx.Get(tableChecks, "id")
	if err != nil {
		return out
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		if c, ok := obj.(interface{ GetStatus() string }); ok {
			out[c.GetStatus()]++
		}
	}
	return out
}

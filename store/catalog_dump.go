package store

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

// CatalogDump returns every node, service instance and check in one read
// transaction, each list in its table's key order (node, then ID). The
// index is the highest of the three tables, and ws fires when any of them
// changes: a blocking reader of the whole catalog holds one wait.
func (s *Store) CatalogDump(ws memdb.WatchSet) (uint64, []*pb.Node, []*pb.Service, []*pb.HealthCheck, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableNodes, tableServices, tableChecks)
	var nodes []*pb.Node
	if err := scanTable(tx, tableNodes, func(raw any) { nodes = append(nodes, raw.(*pb.Node)) }); err != nil {
		return 0, nil, nil, nil, err
	}
	var services []*pb.Service
	if err := scanTable(tx, tableServices, func(raw any) { services = append(services, raw.(*pb.Service)) }); err != nil {
		return 0, nil, nil, nil, err
	}
	var checks []*pb.HealthCheck
	if err := scanTable(tx, tableChecks, func(raw any) { checks = append(checks, raw.(*pb.HealthCheck)) }); err != nil {
		return 0, nil, nil, nil, err
	}
	return idx, nodes, services, checks, nil
}

func scanTable(tx *memdb.Txn, table string, fn func(any)) error {
	it, err := tx.Get(table, "id")
	if err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		fn(raw)
	}
	return nil
}

package store

import (
	memdb "github.com/hashicorp/go-memdb"
)

// Table names. They are also the keys of the index table.
const (
	tableKVs        = "kvs"
	tableTombstones = "tombstones"
	tableIndex      = "index"
)

// indexRow records the last Raft index that changed a table.
type indexRow struct {
	Key   string
	Value uint64
}

// tombstoneRow marks a deleted KV key.
type tombstoneRow struct {
	Key   string
	Index uint64
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{
		Tables: map[string]*memdb.TableSchema{
			tableKVs: {
				Name: tableKVs,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
				},
			},
			tableTombstones: {
				Name: tableTombstones,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
				},
			},
			tableIndex: {
				Name: tableIndex,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
				},
			},
		},
	}
}

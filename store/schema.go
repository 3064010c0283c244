package store

import (
	"strings"

	memdb "github.com/hashicorp/go-memdb"
)

// Table names. They are also the keys of the index table.
const (
	// tableKVs names the KV store in the index table, snapshots and
	// metrics; its entries are in a tree of their own (kvtree.go).
	tableKVs        = "kvs"
	tableTombstones = "tombstones"
	tableIndex      = "index"
	tableNodes      = "nodes"
	tableServices   = "services"
	tableChecks     = "checks"
	tableSessions   = "sessions"
	// tableSessionChecks links a session to each check it is bound to.
	tableSessionChecks   = "session_checks"
	tableSessionTimers   = "session_timers"
	tableLockDelays      = "lock_delays"
	tableCoordinates     = "coordinates"
	tablePreparedQueries = "prepared_queries"
)

// sessionCheck links a session to one check it depends on.
type sessionCheck struct {
	Node    string
	CheckID string
	Session string
}

// serviceIndexName is the index-table key that moves whenever anything a
// read of one service depends on changes: its instances, their checks, the
// nodes they run on. Blocking reads of a service watch only this key, so a
// change to another service does not wake them.
func serviceIndexName(service string) string {
	return "service." + strings.ToLower(service)
}

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
	s := baseSchema()
	for name, t := range autopilotSchema() {
		s.Tables[name] = t
	}
	for name, t := range aclSchema() {
		s.Tables[name] = t
	}
	for name, t := range kvTreeSchema() {
		s.Tables[name] = t
	}
	return s
}

func baseSchema() *memdb.DBSchema {
	return &memdb.DBSchema{
		Tables: map[string]*memdb.TableSchema{
			tableSessions: {
				Name: tableSessions,
				Indexes: map[string]*memdb.IndexSchema{
					"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Id", Lowercase: true}},
					"node": {Name: "node", Indexer: &memdb.StringFieldIndex{Field: "Node", Lowercase: true}},
				},
			},
			tableSessionChecks: {
				Name: tableSessionChecks,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
						&memdb.StringFieldIndex{Field: "Node", Lowercase: true},
						&memdb.StringFieldIndex{Field: "CheckID"},
						&memdb.StringFieldIndex{Field: "Session", Lowercase: true},
					}}},
					"node_check": {Name: "node_check", Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
						&memdb.StringFieldIndex{Field: "Node", Lowercase: true},
						&memdb.StringFieldIndex{Field: "CheckID"},
					}}},
					"session": {Name: "session", Indexer: &memdb.StringFieldIndex{Field: "Session", Lowercase: true}},
				},
			},
			tableSessionTimers: {
				Name: tableSessionTimers,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Id", Lowercase: true}},
				},
			},
			tableLockDelays: {
				Name: tableLockDelays,
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
			tableNodes: {
				Name: tableNodes,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Node", Lowercase: true}},
				},
			},
			tableServices: {
				Name: tableServices,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
						&memdb.StringFieldIndex{Field: "Node", Lowercase: true},
						&memdb.StringFieldIndex{Field: "Id"},
					}}},
					// A node's services are a prefix of "id" (see servicesOfNode).
					"service": {Name: "service", Indexer: &memdb.StringFieldIndex{Field: "Service", Lowercase: true}},
				},
			},
			tableChecks: {
				Name: tableChecks,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
						&memdb.StringFieldIndex{Field: "Node", Lowercase: true},
						&memdb.StringFieldIndex{Field: "CheckId"},
					}}},
					// A node's checks are a prefix of "id" (see checksOfNode).
					// node_service finds one instance's checks without
					// scanning every check of its node.
					"node_service": {Name: "node_service", AllowMissing: true, Indexer: &memdb.CompoundIndex{AllowMissing: true, Indexes: []memdb.Indexer{
						&memdb.StringFieldIndex{Field: "Node", Lowercase: true},
						&memdb.StringFieldIndex{Field: "ServiceId"},
					}}},
					// A service's checks are found through its instances
					// (see ServiceChecks).
				},
			},
			tableCoordinates: {
				Name: tableCoordinates,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{AllowMissing: true, Indexes: []memdb.Indexer{
						&memdb.StringFieldIndex{Field: "Node", Lowercase: true},
						&memdb.StringFieldIndex{Field: "Segment"},
					}}},
					"node": {Name: "node", Indexer: &memdb.StringFieldIndex{Field: "Node", Lowercase: true}},
				},
			},
			tablePreparedQueries: {
				Name: tablePreparedQueries,
				Indexes: map[string]*memdb.IndexSchema{
					"id":      {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Id", Lowercase: true}},
					"name":    {Name: "name", Unique: true, AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Name", Lowercase: true}},
					"session": {Name: "session", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Session", Lowercase: true}},
				},
			},
			tableKVReplication: {
				Name: tableKVReplication,
				Indexes: map[string]*memdb.IndexSchema{
					"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "SourceDatacenter"}},
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

package config

import "fmt"

// RaftLogStore is the raft_logstore block (Consul's keys): which store
// holds a server's Raft log under its data directory.
type RaftLogStore struct {
	// Backend is "wal" or "boltdb"; "" is the default (wal). A data
	// directory holding the other backend's log is migrated at start.
	Backend string
	// WALSegmentSizeMB is the size of one WAL segment file (wal {
	// segment_size_mb }); 0 is the default, 64.
	WALSegmentSizeMB int
}

// partialRaftLogStore is one source's raft_logstore.
type partialRaftLogStore struct {
	Backend          *string
	WALSegmentSizeMB *int
}

func (p *partialRaftLogStore) apply(r *RaftLogStore) {
	set(&r.Backend, p.Backend)
	set(&r.WALSegmentSizeMB, p.WALSegmentSizeMB)
}

var raftLogStoreObject = object[partialRaftLogStore]{
	unused: keySet("disable_log_cache", "verification", "boltdb"),
	keys: map[string]keyFunc[partialRaftLogStore]{
		"backend": opt(toString, func(p *partialRaftLogStore) **string { return &p.Backend }),
		"wal":     nested(raftWALObject, func(p *partialRaftLogStore) *partialRaftLogStore { return p }),
	},
}

var raftWALObject = object[partialRaftLogStore]{
	keys: map[string]keyFunc[partialRaftLogStore]{
		"segment_size_mb": opt(toInt, func(p *partialRaftLogStore) **int { return &p.WALSegmentSizeMB }),
	},
}

func validateRaftLogStore(c *Config) error {
	r := c.RaftLogStore
	switch {
	case r.Backend != "" && r.Backend != "wal" && r.Backend != "boltdb":
		return fmt.Errorf(`raft_logstore.backend %q: want "wal" or "boltdb"`, r.Backend)
	case r.WALSegmentSizeMB < 0 || r.WALSegmentSizeMB > 1024:
		return fmt.Errorf("raft_logstore.wal.segment_size_mb %d: want 1 to 1024", r.WALSegmentSizeMB)
	}
	return nil
}

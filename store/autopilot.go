package store

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// tableAutopilot holds autopilot's configuration: one row, once set.
const tableAutopilot = "autopilot_config"

// autopilotRow is the one row of tableAutopilot.
type autopilotRow struct {
	ID     string
	Config *pb.AutopilotConfig
}

const autopilotRowID = "config"

func autopilotSchema() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		tableAutopilot: {
			Name: tableAutopilot,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
			},
		},
	}
}

// AutopilotConfig returns the stored autopilot configuration (a copy), or
// nil when none was ever set.
func (s *Store) AutopilotConfig() *pb.AutopilotConfig {
	tx := s.readTxn()
	defer tx.Abort()
	row, err := first[*autopilotRow](tx, nil, tableAutopilot, "id", autopilotRowID)
	if err != nil || row == nil {
		return nil
	}
	return proto.Clone(row.Config).(*pb.AutopilotConfig)
}

// applyAutopilotConfig stores c.Config at idx, keeping the first
// CreateIndex. With c.Cas it applies only if the stored configuration's
// ModifyIndex is c.Config.ModifyIndex (0: none stored); ok says whether
// it applied.
func applyAutopilotConfig(tx *memdb.Txn, idx uint64, c *pb.AutopilotConfigSet) (bool, error) {
	in := c.GetConfig()
	if in == nil {
		return false, fmt.Errorf("%w: autopilot configuration missing", ErrBadCommand)
	}
	if in.LastContactThresholdNanos < 0 || in.ServerStabilizationTimeNanos < 0 {
		return false, fmt.Errorf("%w: autopilot durations must not be negative", ErrBadCommand)
	}
	row, err := first[*autopilotRow](tx, nil, tableAutopilot, "id", autopilotRowID)
	if err != nil {
		return false, err
	}
	var cur uint64
	create := idx
	if row != nil {
		cur, create = row.Config.ModifyIndex, row.Config.CreateIndex
	}
	if c.Cas && in.ModifyIndex != cur {
		return false, nil
	}
	cfg := proto.Clone(in).(*pb.AutopilotConfig)
	cfg.CreateIndex, cfg.ModifyIndex = create, idx
	if err := tx.Insert(tableAutopilot, &autopilotRow{ID: autopilotRowID, Config: cfg}); err != nil {
		return false, fmt.Errorf("autopilot configuration: %w", err)
	}
	return true, setIndex(tx, tableAutopilot, idx)
}

package store

import (
	"fmt"
	"math"
	"sort"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// MaxCoordinateDimensions bounds a coordinate's vector (serf uses 8).
const MaxCoordinateDimensions = 64

// ValidCoordinate reports whether c is a usable network coordinate: a
// non-empty vector of at most MaxCoordinateDimensions and every component
// a finite number.
func ValidCoordinate(c *pb.Coordinate) bool {
	if c == nil || len(c.Vec) == 0 || len(c.Vec) > MaxCoordinateDimensions {
		return false
	}
	for _, v := range c.Vec {
		if !finite(v) {
			return false
		}
	}
	return finite(c.Error) && finite(c.Adjustment) && finite(c.Height)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// coordinateBatchUpdate stores a batch of LAN coordinates at idx. As
// Consul does, updates for nodes not in the catalog are dropped (a node's
// coordinates go when the node goes, see deleteNodeCoordinates), and so
// are invalid ones: a batch gathers many agents' updates, and one bad
// update must not cost the others theirs.
func coordinateBatchUpdate(tx *memdb.Txn, idx uint64, updates []*pb.CoordinateEntry) error {
	changed := false
	for _, u := range updates {
		if u.GetNode() == "" || !ValidCoordinate(u.GetCoord()) {
			continue
		}
		node, err := nodeFirst(tx, u.Node)
		if err != nil {
			return err
		}
		if node == nil {
			continue
		}
		row := &pb.CoordinateEntry{
			Node:        node.Node,
			Segment:     u.Segment,
			Coord:       proto.Clone(u.Coord).(*pb.Coordinate),
			CreateIndex: idx,
			ModifyIndex: idx,
		}
		old, err := coordinateFirst(tx, node.Node, u.Segment)
		if err != nil {
			return err
		}
		if old != nil {
			row.CreateIndex = old.CreateIndex
		}
		if err := tx.Insert(tableCoordinates, row); err != nil {
			return fmt.Errorf("coordinates: %w", err)
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return setIndex(tx, tableCoordinates, idx)
}

// coordinateFirst finds a node's coordinate of one segment. It looks
// through the node's rows: the "id" index leaves an empty segment out of
// the key (memdb's AllowMissing), so it cannot be queried with "".
func coordinateFirst(tx *memdb.Txn, node, segment string) (*pb.CoordinateEntry, error) {
	it, err := tx.Get(tableCoordinates, "node", node)
	if err != nil {
		return nil, fmt.Errorf("coordinates: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if c := raw.(*pb.CoordinateEntry); c.Segment == segment {
			return c, nil
		}
	}
	return nil, nil
}

// deleteNodeCoordinates removes every coordinate of a node.
func deleteNodeCoordinates(tx *memdb.Txn, idx uint64, node string) error {
	n, err := tx.DeleteAll(tableCoordinates, "node", node)
	if err != nil {
		return fmt.Errorf("coordinates: %w", err)
	}
	if n == 0 {
		return nil
	}
	return setIndex(tx, tableCoordinates, idx)
}

// Coordinates lists every stored LAN coordinate, by node then segment,
// with the coordinates table's index.
func (s *Store) Coordinates(ws memdb.WatchSet) (uint64, []*pb.CoordinateEntry, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableCoordinates)
	it, err := tx.Get(tableCoordinates, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("coordinates: %w", err)
	}
	var out []*pb.CoordinateEntry
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.CoordinateEntry))
	}
	return idx, out, nil
}

// NodeCoordinates lists one node's LAN coordinates (one per segment),
// with the coordinates table's index; none when it has none.
func (s *Store) NodeCoordinates(ws memdb.WatchSet, node string) (uint64, []*pb.CoordinateEntry, error) {
	tx := s.readTxn()
	defer tx.Abort()
	idx := maxIndex(tx, ws, tableCoordinates)
	it, err := tx.Get(tableCoordinates, "node", node)
	if err != nil {
		return 0, nil, fmt.Errorf("coordinates: %w", err)
	}
	var out []*pb.CoordinateEntry
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*pb.CoordinateEntry))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Segment < out[j].Segment })
	return idx, out, nil
}

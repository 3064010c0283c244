package store

import (
	"math"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

func (a *applier) coords(updates ...*pb.CoordinateEntry) *Result {
	a.t.Helper()
	return a.cmd(&pb.Command{IgnoreIfUnknown: true, Cmd: &pb.Command_CoordinateUpdate{
		CoordinateUpdate: &pb.CoordinateBatchUpdate{Updates: updates}}})
}

func coord(x float64) *pb.Coordinate {
	return &pb.Coordinate{Vec: []float64{x, 0, 0, 0, 0, 0, 0, 0}, Error: 1.5, Height: 1e-5}
}

func TestCoordinateBatchUpdate(t *testing.T) {
	a := newApplier(t)
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1", Address: "10.0.0.1"}})
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n2", Address: "10.0.0.2"}})

	// Unknown nodes and invalid coordinates are dropped; the rest of the
	// batch is stored.
	r := a.coords(
		&pb.CoordinateEntry{Node: "N1", Coord: coord(0.01)},
		&pb.CoordinateEntry{Node: "ghost", Coord: coord(0.02)},
		&pb.CoordinateEntry{Node: "n2", Coord: &pb.Coordinate{Vec: []float64{math.Inf(1)}}},
		&pb.CoordinateEntry{Node: "n2", Segment: "alpha", Coord: coord(0.03)},
		&pb.CoordinateEntry{Node: "n2"},
	)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	first := a.idx
	idx, all, err := a.s.Coordinates(nil)
	if err != nil || idx != first || len(all) != 2 {
		t.Fatalf("coordinates = %d %v %v", idx, all, err)
	}
	if all[0].Node != "n1" || all[0].Coord.Vec[0] != 0.01 || all[0].CreateIndex != first {
		t.Fatalf("n1 row %v: the catalog's spelling of the name, the index of the batch", all[0])
	}
	if all[1].Node != "n2" || all[1].Segment != "alpha" {
		t.Fatalf("n2 row %v", all[1])
	}

	// An update keeps CreateIndex and moves ModifyIndex; the default
	// segment and "alpha" are separate rows.
	ws := memdb.NewWatchSet()
	if _, _, err := a.s.NodeCoordinates(ws, "n2"); err != nil {
		t.Fatal(err)
	}
	a.coords(&pb.CoordinateEntry{Node: "n1", Coord: coord(0.04)}, &pb.CoordinateEntry{Node: "n2", Coord: coord(0.05)})
	if !fired(ws) {
		t.Fatal("a coordinate update did not wake a blocking read")
	}
	idx, n1, _ := a.s.NodeCoordinates(nil, "n1")
	if idx != a.idx || len(n1) != 1 || n1[0].CreateIndex != first || n1[0].ModifyIndex != a.idx || n1[0].Coord.Vec[0] != 0.04 {
		t.Fatalf("n1 after update: %d %v", idx, n1)
	}
	_, n2, _ := a.s.NodeCoordinates(nil, "N2")
	if len(n2) != 2 || n2[0].Segment != "" || n2[1].Segment != "alpha" {
		t.Fatalf("n2 segments: %v", n2)
	}

	// A batch that stores nothing does not move the index.
	before := a.s.TableIndex(memdb.NewWatchSet(), tableCoordinates)
	a.coords(&pb.CoordinateEntry{Node: "ghost", Coord: coord(1)})
	if got := a.s.TableIndex(memdb.NewWatchSet(), tableCoordinates); got != before {
		t.Fatalf("index moved from %d to %d for nothing", before, got)
	}

	// Deregistering a node removes its coordinates.
	a.deregister(&pb.CatalogDeregister{Node: "n2"})
	idx, all, _ = a.s.Coordinates(nil)
	if len(all) != 1 || all[0].Node != "n1" || idx != a.idx {
		t.Fatalf("after deregister: %d %v", idx, all)
	}
}

func TestCoordinatesSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1", Address: "10.0.0.1"}})
	a.coords(&pb.CoordinateEntry{Node: "n1", Coord: coord(0.01)}, &pb.CoordinateEntry{Node: "n1", Segment: "b", Coord: coord(0.02)})
	to := newApplier(t)
	roundTrip(t, a.s, to.s)
	idx, all, err := to.s.Coordinates(nil)
	if err != nil || idx != a.idx || len(all) != 2 || all[1].Segment != "b" || all[1].Coord.Vec[0] != 0.02 {
		t.Fatalf("restored coordinates: %d %v %v", idx, all, err)
	}
}

func TestValidCoordinate(t *testing.T) {
	long := make([]float64, MaxCoordinateDimensions+1)
	for name, c := range map[string]*pb.Coordinate{
		"nil":       nil,
		"empty":     {},
		"nan":       {Vec: []float64{math.NaN()}},
		"inf error": {Vec: []float64{1}, Error: math.Inf(-1)},
		"nan hgt":   {Vec: []float64{1}, Height: math.NaN()},
		"too long":  {Vec: long},
	} {
		if ValidCoordinate(c) {
			t.Errorf("%s: valid", name)
		}
	}
	if !ValidCoordinate(coord(1)) {
		t.Error("a serf coordinate is invalid")
	}
}

package lan

import "testing"

func TestCoordinatesAfterProbes(t *testing.T) {
	checkLeaks(t)
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil)
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.pool.Coordinate("a"); !ok {
		t.Fatal("no local coordinate")
	}
	// Coordinates of others arrive with gossip probes.
	waitFor(t, "b's coordinate on a", func() bool {
		_, ok := a.pool.Coordinate("b")
		return ok
	})
	if _, ok := a.pool.Coordinate("nobody"); ok {
		t.Fatal("coordinate for an unknown member")
	}
}

package store

import (
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

func TestCatalogDump(t *testing.T) {
	a := newApplier(t)
	a.register(regWeb("n2", "10.0.0.2", "web2", nil, HealthCritical))
	a.register(regWeb("n1", "10.0.0.1", "web1", nil, HealthPassing))
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n3", Address: "10.0.0.3"}})

	ws := memdb.NewWatchSet()
	idx, nodes, services, checks, err := a.s.CatalogDump(ws)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || nodes[0].Node != "n1" || nodes[2].Node != "n3" {
		t.Fatalf("nodes = %v", nodes)
	}
	if len(services) != 2 || services[0].Id != "web1" || services[1].Node != "n2" {
		t.Fatalf("services = %v", services)
	}
	if len(checks) != 2 || checks[1].Status != HealthCritical {
		t.Fatalf("checks = %v", checks)
	}
	if idx == 0 {
		t.Fatal("index 0")
	}

	// A check's status change alone fires the watch and raises the index.
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n2"}, SkipNodeUpdate: true,
		Checks: []*pb.HealthCheck{{CheckId: "service:web2", Name: "web check", ServiceId: "web2", Status: HealthPassing}}})
	if timedOut := ws.Watch(time.After(5 * time.Second)); timedOut {
		t.Fatal("watch did not fire on a check change")
	}
	idx2, _, _, _, _ := a.s.CatalogDump(nil)
	if idx2 <= idx {
		t.Fatalf("index %d after change, was %d", idx2, idx)
	}
}

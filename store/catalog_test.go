package store

import (
	"errors"
	"slices"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

func (a *applier) register(req *pb.CatalogRegister) *Result {
	a.t.Helper()
	return a.cmd(&pb.Command{Cmd: &pb.Command_Register{Register: req}})
}

func (a *applier) deregister(req *pb.CatalogDeregister) *Result {
	a.t.Helper()
	return a.cmd(&pb.Command{Cmd: &pb.Command_Deregister{Deregister: req}})
}

func regWeb(node, addr, id string, tags []string, status string) *pb.CatalogRegister {
	return &pb.CatalogRegister{
		Node:    &pb.Node{Node: node, Address: addr},
		Service: &pb.Service{Id: id, Service: "web", Tags: tags, Port: 80},
		Checks:  []*pb.HealthCheck{{CheckId: "service:" + id, Name: "web check", ServiceId: id, Status: status}},
	}
}

func TestRegisterAndRead(t *testing.T) {
	a := newApplier(t)
	if r := a.register(regWeb("n1", "10.0.0.1", "web1", []string{"a", "b"}, HealthPassing)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := a.register(regWeb("n2", "10.0.0.2", "web2", []string{"b", "c"}, HealthCritical)); r.Err != nil {
		t.Fatal(r.Err)
	}
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n2"}, SkipNodeUpdate: true,
		Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Name: "Serf Health Status", Status: HealthPassing}}})

	_, nodes, _ := a.s.Nodes(nil)
	if len(nodes) != 2 || nodes[1].Address != "10.0.0.2" {
		t.Fatalf("nodes = %v", nodes)
	}
	_, services, _ := a.s.Services(nil, nil)
	if got := services["web"]; !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("web tags = %v", got)
	}
	_, inst, _ := a.s.ServiceInstances(nil, "WEB", true) // names are case-insensitive
	if len(inst) != 2 {
		t.Fatalf("instances = %d", len(inst))
	}
	if len(inst[1].Checks) != 2 || inst[1].Checks[1].ServiceTags[0] != "b" {
		t.Fatalf("n2 checks = %v", inst[1].Checks)
	}
	_, crit, _ := a.s.ChecksInState(nil, HealthCritical)
	if len(crit) != 1 || crit[0].Node != "n2" {
		t.Fatalf("critical = %v", crit)
	}
	_, n, svcs, _ := a.s.NodeServices(nil, "n1")
	if n == nil || len(svcs) != 1 || svcs[0].Id != "web1" {
		t.Fatalf("node services = %v %v", n, svcs)
	}
	if _, n, _, _ := a.s.NodeServices(nil, "nope"); n != nil {
		t.Fatal("unknown node found")
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	a := newApplier(t)
	cases := map[string]*pb.CatalogRegister{
		"no node":        {Node: &pb.Node{Address: "1.2.3.4"}},
		"no address":     {Node: &pb.Node{Node: "n"}},
		"no service":     {Node: &pb.Node{Node: "n", Address: "a"}, Service: &pb.Service{Id: "x"}},
		"bad status":     {Node: &pb.Node{Node: "n", Address: "a"}, Checks: []*pb.HealthCheck{{CheckId: "c", Status: "sideways"}}},
		"missing svc":    {Node: &pb.Node{Node: "n", Address: "a"}, Checks: []*pb.HealthCheck{{CheckId: "c", ServiceId: "ghost"}}},
		"other node chk": {Node: &pb.Node{Node: "n", Address: "a"}, Checks: []*pb.HealthCheck{{CheckId: "c", Node: "m"}}},
	}
	for name, req := range cases {
		if r := a.register(req); !errors.Is(r.Err, ErrBadCommand) {
			t.Errorf("%s: err = %v", name, r.Err)
		}
	}
	// All or nothing: a failed registration leaves no node behind.
	if _, nodes, _ := a.s.Nodes(nil); len(nodes) != 0 {
		t.Fatalf("failed registrations left %v", nodes)
	}
}

func TestDeregister(t *testing.T) {
	a := newApplier(t)
	a.register(regWeb("n1", "10.0.0.1", "web1", nil, HealthPassing))
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1", Address: "10.0.0.1"},
		Service: &pb.Service{Id: "db", Service: "db"}})
	a.deregister(&pb.CatalogDeregister{Node: "n1", CheckId: "service:web1"})
	if _, cs, _ := a.s.NodeChecks(nil, "n1"); len(cs) != 0 {
		t.Fatalf("checks after check deregister: %v", cs)
	}
	a.deregister(&pb.CatalogDeregister{Node: "n1", ServiceId: "web1"})
	if _, inst, _ := a.s.ServiceInstances(nil, "web", false); len(inst) != 0 {
		t.Fatalf("web after deregister: %v", inst)
	}
	a.deregister(&pb.CatalogDeregister{Node: "n1"})
	if _, nodes, _ := a.s.Nodes(nil); len(nodes) != 0 {
		t.Fatal("node survived deregister")
	}
	if _, svcs, _ := a.s.Services(nil, nil); len(svcs) != 0 {
		t.Fatalf("services survived node deregister: %v", svcs)
	}
	if r := a.deregister(&pb.CatalogDeregister{Node: "n1"}); r.Err != nil {
		t.Fatalf("deregistering a missing node: %v", r.Err)
	}
}

func TestServiceIndexIsPerService(t *testing.T) {
	a := newApplier(t)
	a.register(regWeb("n1", "10.0.0.1", "web1", nil, HealthPassing))
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n2", Address: "10.0.0.2"}, Service: &pb.Service{Service: "db"}})

	webIdx, _, _ := a.s.ServiceInstances(nil, "web", true)
	ws := memdb.NewWatchSet()
	a.s.ServiceInstances(ws, "web", true)
	// A change to another service on another node does not touch web.
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n2", Address: "10.0.0.2"}, Service: &pb.Service{Service: "db", Port: 5432}})
	if fired(ws) {
		t.Fatal("web watch fired on a db change")
	}
	if idx, _, _ := a.s.ServiceInstances(nil, "web", true); idx != webIdx {
		t.Fatalf("web index moved %d -> %d on a db change", webIdx, idx)
	}
	// A check of the instance moves it.
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
		Checks: []*pb.HealthCheck{{CheckId: "service:web1", ServiceId: "web1", Status: HealthCritical}}})
	if !fired(ws) {
		t.Fatal("web watch did not fire on its check's change")
	}
	// A node check of its node moves it too.
	idx1, _, _ := a.s.ServiceInstances(nil, "web", true)
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
		Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Status: HealthCritical}}})
	if idx2, _, _ := a.s.ServiceInstances(nil, "web", true); idx2 <= idx1 {
		t.Fatalf("node check did not move web's index: %d -> %d", idx1, idx2)
	}
	// Re-registering the same thing changes nothing.
	last := a.s.LastIndex()
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
		Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Status: HealthCritical}}})
	if a.s.LastIndex() != last {
		t.Fatal("an identical registration bumped an index")
	}
}

func TestCatalogSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	a.register(regWeb("n1", "10.0.0.1", "web1", []string{"x"}, HealthWarning))
	b := newApplier(t)
	roundTrip(t, a.s, b.s)
	_, inst, _ := b.s.ServiceInstances(nil, "web", true)
	if len(inst) != 1 || inst[0].Checks[0].Status != HealthWarning || inst[0].Service.Tags[0] != "x" {
		t.Fatalf("restored = %v", inst)
	}
	if b.s.LastIndex() != a.s.LastIndex() {
		t.Fatal("indexes not restored")
	}
}

func TestAllServiceInstances(t *testing.T) {
	a := newApplier(t)
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n2", Address: "10.0.0.2", Meta: map[string]string{"rack": "r2"}},
		Service: &pb.Service{Id: "web2", Service: "web"}})
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1", Address: "10.0.0.1", Meta: map[string]string{"rack": "r1"}},
		Service: &pb.Service{Id: "web1", Service: "web", Tags: []string{"x"}}})
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true, Service: &pb.Service{Id: "db1", Service: "db"}})

	ids := func(insts []*pb.ServiceInstance) []string {
		var out []string
		for _, in := range insts {
			out = append(out, in.Service.Service+"/"+in.Node.Node+"/"+in.Service.Id+"@"+in.Node.Address)
		}
		return out
	}
	ws := memdb.NewWatchSet()
	idx, all, err := a.s.AllServiceInstances(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(all), []string{"db/n1/db1@10.0.0.1", "web/n1/web1@10.0.0.1", "web/n2/web2@10.0.0.2"}; !slices.Equal(got, want) {
		t.Fatalf("instances = %q, want %q (by service, node, ID, with their nodes)", got, want)
	}
	if sidx, _, _ := a.s.Services(nil, nil); idx != sidx || idx != 3 {
		t.Fatalf("index %d, Services' %d, want both 3", idx, sidx)
	}
	_, r1, _ := a.s.AllServiceInstances(nil, map[string]string{"rack": "r1"})
	if got, want := ids(r1), []string{"db/n1/db1@10.0.0.1", "web/n1/web1@10.0.0.1"}; !slices.Equal(got, want) {
		t.Fatalf("rack r1 = %q, want %q", got, want)
	}
	if fired(ws) {
		t.Fatal("watch fired before any change")
	}
	a.register(&pb.CatalogRegister{Node: &pb.Node{Node: "n3", Address: "10.0.0.3"}, Service: &pb.Service{Id: "q", Service: "queue"}})
	if !fired(ws) {
		t.Fatal("watch did not fire on a new instance")
	}
}

// A node's services and checks, and a service's checks, are read through
// the "id" and "node_service" indexes: node "n1" is not a prefix match for
// "n10", names are case-insensitive, and other services' and node-level
// checks stay out of a service's.
func TestChecksAndServicesByNodeAndService(t *testing.T) {
	a := newApplier(t)
	for _, r := range []*pb.CatalogRegister{
		regWeb("n1", "10.0.0.1", "web1", nil, HealthPassing),
		regWeb("n10", "10.0.0.10", "web10", nil, HealthCritical),
		{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
			Service: &pb.Service{Id: "db1", Service: "db"},
			Checks:  []*pb.HealthCheck{{CheckId: "service:db1", Name: "db check", ServiceId: "db1", Status: HealthPassing}}},
		{Node: &pb.Node{Node: "n1"}, SkipNodeUpdate: true,
			Checks: []*pb.HealthCheck{{CheckId: SerfCheckID, Name: "Serf Health Status", Status: HealthPassing}}},
	} {
		if res := a.register(r); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	ids := func(checks []*pb.HealthCheck) []string {
		var out []string
		for _, c := range checks {
			out = append(out, c.Node+"/"+c.CheckId)
		}
		return out
	}
	_, checks, err := a.s.ServiceChecks(nil, "WEB")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(checks), []string{"n1/service:web1", "n10/service:web10"}; !slices.Equal(got, want) {
		t.Errorf("web's checks: %v, want %v", got, want)
	}
	_, checks, err = a.s.NodeChecks(nil, "N1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(checks), []string{"n1/" + SerfCheckID, "n1/service:db1", "n1/service:web1"}; !slices.Equal(got, want) {
		t.Errorf("n1's checks: %v, want %v", got, want)
	}
	_, _, services, err := a.s.NodeServices(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range services {
		names = append(names, s.Id)
	}
	slices.Sort(names)
	if want := []string{"db1", "web1"}; !slices.Equal(names, want) {
		t.Errorf("n1's services: %v, want %v", names, want)
	}
	// Removing n1 leaves n10 whole.
	if res := a.deregister(&pb.CatalogDeregister{Node: "n1"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	_, checks, _ = a.s.ServiceChecks(nil, "web")
	if got, want := ids(checks), []string{"n10/service:web10"}; !slices.Equal(got, want) {
		t.Errorf("web's checks after n1 left: %v, want %v", got, want)
	}
}

package store

import (
	"errors"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-io/meridian/pb"
)

func (a *applier) query(op pb.PreparedQueryOp, q *pb.PreparedQuery) *Result {
	a.t.Helper()
	return a.cmd(&pb.Command{Cmd: &pb.Command_PreparedQuery{PreparedQuery: &pb.PreparedQueryApply{Op: op, Query: q}}})
}

func svcQuery(id, name, service string) *pb.PreparedQuery {
	return &pb.PreparedQuery{Id: id, Name: name, Service: &pb.ServiceQuery{Service: service}}
}

func TestPreparedQueryCreateUpdateDelete(t *testing.T) {
	a := newApplier(t)
	if r := a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, svcQuery("q1", "web", "web")); r.Err != nil {
		t.Fatal(r.Err)
	}
	created := a.idx
	ws := memdb.NewWatchSet()
	idx, got, err := a.s.PreparedQuery(ws, "Q1")
	if err != nil || got == nil || got.CreateIndex != created || idx != created {
		t.Fatalf("read q1: %v at %d, %v", got, idx, err)
	}
	// Refused: a second query with the same name, a name that is
	// another query's ID, updating or deleting a query that does not exist.
	for name, r := range map[string]*Result{
		"same name":      a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, svcQuery("q2", "WEB", "db")),
		"name is an ID":  a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, svcQuery("q3", "q1", "db")),
		"update missing": a.query(pb.PreparedQueryOp_PREPARED_QUERY_UPDATE, svcQuery("q9", "", "db")),
		"delete missing": a.query(pb.PreparedQueryOp_PREPARED_QUERY_DELETE, &pb.PreparedQuery{Id: "q9"}),
		"no ID":          a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, svcQuery("", "x", "db")),
		"bad session":    a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, &pb.PreparedQuery{Id: "q4", Session: "nope"}),
	} {
		if !errors.Is(r.Err, ErrBadCommand) {
			t.Errorf("%s: %v, want ErrBadCommand", name, r.Err)
		}
	}
	if fired(ws) {
		t.Fatal("refused commands woke a reader")
	}
	if r := a.query(pb.PreparedQueryOp_PREPARED_QUERY_UPDATE, svcQuery("q1", "web2", "web")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if !fired(ws) {
		t.Fatal("an update did not wake a reader")
	}
	_, got, _ = a.s.PreparedQuery(nil, "q1")
	if got.Name != "web2" || got.CreateIndex != created || got.ModifyIndex != a.idx {
		t.Fatalf("after update: %v", got)
	}
	if r := a.query(pb.PreparedQueryOp_PREPARED_QUERY_DELETE, &pb.PreparedQuery{Id: "q1"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	idx, list, err := a.s.PreparedQueries(nil)
	if err != nil || len(list) != 0 || idx != a.idx {
		t.Fatalf("after delete: %v at %d, %v", list, idx, err)
	}
}

func TestResolvePreparedQuery(t *testing.T) {
	a := newApplier(t)
	tmpl := func(id, prefix string) *pb.PreparedQuery {
		q := svcQuery(id, prefix, "${name.suffix}")
		q.Template = &pb.QueryTemplate{Type: TemplateNamePrefixMatch}
		return q
	}
	for _, q := range []*pb.PreparedQuery{svcQuery("id-exact", "geo-db", "db"), tmpl("id-geo", "geo-"), tmpl("id-geo-web", "geo-web-")} {
		if r := a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, q); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for name, want := range map[string]string{
		"id-exact":       "id-exact",
		"geo-db":         "id-exact", // an exact name wins over a template
		"GEO-cache":      "id-geo",
		"geo-web-mobile": "id-geo-web", // the longest prefix wins
		"geo-web-":       "id-geo-web",
		"other":          "",
		"":               "",
	} {
		_, q, err := a.s.ResolvePreparedQuery(nil, name)
		if err != nil || q.GetId() != want {
			t.Errorf("resolve %q = %v, %v; want %q", name, q.GetId(), err, want)
		}
	}
}

func TestPreparedQueryGoesWithItsSession(t *testing.T) {
	a := newSessionApplier(t)
	if r := a.cmd(sessCreate("s1", "n1", []string{SerfCheckID}, "", 0, 0)); r.Err != nil {
		t.Fatal(r.Err)
	}
	bound := svcQuery("q1", "bound", "web")
	bound.Session = "S1"
	for _, q := range []*pb.PreparedQuery{bound, svcQuery("q2", "free", "web")} {
		if r := a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, q); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	// The session is invalidated by its check turning critical.
	if r := a.cmd(setSerf(HealthCritical)); r.Err != nil {
		t.Fatal(r.Err)
	}
	_, list, _ := a.s.PreparedQueries(nil)
	if len(list) != 1 || list[0].Id != "q2" {
		t.Fatalf("queries after the session went: %v", list)
	}
	if idx := a.s.TableIndex(nil, tablePreparedQueries); idx != a.idx {
		t.Fatalf("queries index %d, want %d", idx, a.idx)
	}
}

func TestPreparedQuerySnapshot(t *testing.T) {
	a := newApplier(t)
	q := svcQuery("q1", "web", "web")
	q.Service.Failover = &pb.QueryFailover{NearestN: 2, Datacenters: []string{"dc9"}}
	q.Dns = &pb.QueryDNS{Ttl: "10s"}
	if r := a.query(pb.PreparedQueryOp_PREPARED_QUERY_CREATE, q); r.Err != nil {
		t.Fatal(r.Err)
	}
	to, err := New()
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, a.s, to)
	idx, got, err := to.PreparedQuery(nil, "q1")
	if err != nil || got.GetService().GetFailover().GetNearestN() != 2 || got.GetDns().GetTtl() != "10s" || idx != a.idx {
		t.Fatalf("restored %v at %d, %v", got, idx, err)
	}
	if _, byName, _ := to.ResolvePreparedQuery(nil, "web"); byName.GetId() != "q1" {
		t.Fatalf("restored name index: %v", byName)
	}
}

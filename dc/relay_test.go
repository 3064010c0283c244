package dc

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/wan"
)

// A request for a datacenter this server cannot reach goes through a
// third datacenter that can, and says so; a relay that cannot reach it
// either passes the turn, relays never chain past MaxRelayHops (the two
// routers below would otherwise bounce a request between dc1 and dc2),
// and the direct path is used again once it works.
func TestRelayThroughAThirdDatacenter(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		r1 := &fakeRouter{servers: map[string][]wan.Server{}, relays: map[string][]wan.Server{}}
		r2 := &fakeRouter{servers: map[string][]wan.Server{}, relays: map[string][]wan.Server{}}
		dc1 := startCluster(t, clusterOpts{servers: 1, router: r1})
		dc2 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc2", subnet: 2, net: dc1.net, router: r2})
		dc3 := startCluster(t, clusterOpts{servers: 1, datacenter: "dc3", subnet: 3, net: dc1.net})
		s1, s2, s3 := dc1.waitLeader(), dc2.waitLeader(), dc3.waitLeader()
		srv := func(ts *testServer, dc string) wan.Server {
			return wan.Server{Name: ts.name + "." + dc, Addr: ts.addr, Datacenter: dc}
		}
		r1.set("dc2", srv(s2, "dc2"))
		r1.set("dc3", srv(s3, "dc3"))
		r1.relays["dc3"] = []wan.Server{{Name: "gone.dc4", Addr: "10.0.4.9:8300", Datacenter: "dc4"}, srv(s2, "dc2")}
		r2.set("dc3", srv(s3, "dc3"))
		r2.set("dc1", srv(s1, "dc1"))
		r2.relays["dc3"] = []wan.Server{srv(s1, "dc1")}

		noted := func(ts *testServer, method string, req, resp proto.Message) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ctx, note := rpc.WithRelayNote(ctx)
			err := ts.RPC(ctx, method, req, resp)
			return note.Via(), err
		}
		get := func() (string, string, error) {
			var resp pb.KVGetResponse
			via, err := noted(s1, MethodKVGet, &pb.KVGetRequest{Key: "k", Query: &pb.QueryOptions{Dc: "dc3"}}, &resp)
			if len(resp.Entries) == 0 {
				return via, "", err
			}
			return via, string(resp.Entries[0].Value), err
		}

		dc1.net.Disconnect(s1.addr, s3.addr)
		set := kvSet("k", "relayed")
		set.Write = &pb.WriteOptions{Dc: "dc3"}
		var put pb.KVApplyResponse
		via, err := noted(s1, MethodKVApply, set, &put)
		if err != nil || !put.Ok || via != "dc2" {
			t.Fatalf("write in dc3 from dc1 across the cut: ok %v, via %q, %v; want through dc2", put.Ok, via, err)
		}
		if via, v, err := get(); err != nil || v != "relayed" || via != "dc2" {
			t.Fatalf("read in dc3 from dc1 across the cut: %q via %q, %v", v, via, err)
		}

		// dc2 loses dc3 too: dc2 must not relay back through dc1 (the hop
		// limit), and dc1 reports no path.
		dc1.net.Disconnect(s2.addr, s3.addr)
		if via, _, err := get(); !errors.Is(err, rpc.ErrNoPathToDC) || via != "" {
			t.Fatalf("read with dc3 cut off from both: via %q, %v; want no path", via, err)
		}

		dc1.net.ConnectAll()
		if via, v, err := get(); err != nil || v != "relayed" || via != "" {
			t.Fatalf("read after healing: %q via %q, %v; want the direct path", v, via, err)
		}
	})
}

package dc

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
)

// addServer starts a new server that joins the running datacenter through
// the LAN pool (no bootstrap), as a replacement does.
func (c *testCluster) addServer(name string) *testServer {
	c.t.Helper()
	if c.onDisk {
		c.t.Fatal("addServer: in-memory clusters only")
	}
	i := len(c.servers) + 1
	ts := &testServer{name: name, id: fmt.Sprintf("dc1-id-%d", i), addr: fmt.Sprintf("10.0.0.%d:8300", i)}
	_, ts.trans = raft.NewInmemTransport(raft.ServerAddress(ts.addr))
	for _, o := range c.servers {
		ts.trans.Connect(raft.ServerAddress(o.addr), o.trans)
		o.trans.Connect(raft.ServerAddress(ts.addr), ts.trans)
	}
	c.servers = append(c.servers, ts)
	cfg := LANProfile()
	cfg.NodeName, cfg.NodeID, cfg.RPCAddr, cfg.Datacenter = ts.name, ts.id, ts.addr, "dc1"
	cfg.Logger = testLogger()
	c.start(ts, cfg)
	c.members.set(Member{Name: ts.name, ID: ts.id, Datacenter: "dc1", Address: fmt.Sprintf("10.0.0.%d", i),
		Addr: ts.addr, Server: true, Status: StatusAlive})
	return ts
}

// kill crashes a server and has the LAN pool report it failed.
func (c *testCluster) kill(ts *testServer) {
	c.isolate(ts)
	c.stop(ts)
	c.members.setStatus(ts.name, StatusFailed)
}

// raftVoters are the voters of ts's Raft configuration, by ID.
func raftVoters(t *testing.T, ts *testServer) map[string]bool {
	t.Helper()
	f := ts.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("configuration of %s: %v", ts.name, err)
	}
	out := map[string]bool{}
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			out[string(srv.ID)] = true
		}
	}
	return out
}

func apState(t *testing.T, ts *testServer) *pb.AutopilotStateResponse {
	t.Helper()
	var st pb.AutopilotStateResponse
	if err := call(ts, MethodAutopilotState, &pb.AutopilotStateRequest{}, &st); err != nil {
		t.Fatalf("autopilot state through %s: %v", ts.name, err)
	}
	return &st
}

// Dead-server cleanup, as Consul's autopilot does it: of five servers, two
// that crash are removed once the pool has reported them failed for the
// stabilization time, and writes go on; a third is not removed, since that
// would leave fewer voters than min_quorum; a replacement joins as a
// voter and is healthy.
func TestAutopilotRemovesDeadServersDownToMinQuorum(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 5, nil)
		leader := c.waitLeader()
		waitFor(t, "every server healthy", func() error {
			st := apState(t, leader)
			if !st.Healthy || len(st.Servers) != 5 || st.FailureTolerance != 2 {
				return fmt.Errorf("healthy %v, %d servers, failure tolerance %d", st.Healthy, len(st.Servers), st.FailureTolerance)
			}
			return nil
		})
		// min_quorum 3, set through the API on a follower (stored in Raft).
		var set pb.AutopilotSetConfigResponse
		cfg := DefaultAutopilotConfig().toProto()
		cfg.MinQuorum = 3
		if err := call(c.followers(leader)[0], MethodAutopilotSetConfig, &pb.AutopilotSetConfigRequest{Config: cfg}, &set); err != nil || !set.Ok {
			t.Fatalf("set configuration: ok %v, %v", set.Ok, err)
		}
		followers := c.followers(leader)
		dead := followers[:2]
		start := time.Now()
		for _, ts := range dead {
			c.kill(ts)
		}
		waitFor(t, "the dead servers reported unhealthy", func() error {
			st := apState(t, leader)
			if st.Healthy || st.FailureTolerance != 0 {
				return fmt.Errorf("healthy %v, failure tolerance %d", st.Healthy, st.FailureTolerance)
			}
			return nil
		})
		waitFor(t, "the dead servers removed", func() error {
			if v := raftVoters(t, leader); len(v) != 3 || v[dead[0].id] || v[dead[1].id] {
				return fmt.Errorf("voters %v", v)
			}
			return nil
		})
		took := time.Since(start)
		if stab := DefaultAutopilotConfig().ServerStabilizationTime; took < stab || took > stab+2*LANProfile().AutopilotInterval+time.Second {
			t.Fatalf("removed after %s, want the stabilization time %s (+ two autopilot passes)", took, stab)
		}
		for i := range 20 {
			var resp pb.KVApplyResponse
			if err := call(followers[2], MethodKVApply, kvSet(fmt.Sprintf("after-removal/%d", i), "v"), &resp); err != nil {
				t.Fatalf("write after the removal: %v", err)
			}
		}
		waitFor(t, "three healthy voters", func() error {
			st := apState(t, followers[2])
			if !st.Healthy || len(st.Servers) != 3 || st.FailureTolerance != 1 {
				return fmt.Errorf("healthy %v, %d servers, failure tolerance %d", st.Healthy, len(st.Servers), st.FailureTolerance)
			}
			return nil
		})

		// A third failure: removing it would leave 2 voters < min_quorum 3.
		third := followers[2]
		c.kill(third)
		time.Sleep(3 * DefaultAutopilotConfig().ServerStabilizationTime) // bubble time: many autopilot passes, no waiting
		if v := raftVoters(t, leader); len(v) != 3 || !v[third.id] {
			t.Fatalf("voters after a failure below min_quorum: %v", v)
		}
		var resp pb.KVApplyResponse
		if err := call(leader, MethodKVApply, kvSet("two-of-three", "v"), &resp); err != nil {
			t.Fatalf("write with two of three voters: %v", err)
		}

		// A replacement joins as a voter; with four voters, removing the
		// third dead one leaves three, which min_quorum allows, so it goes.
		repl := c.addServer("s6")
		waitFor(t, "the replacement a healthy voter, the third dead server removed", func() error {
			if v := raftVoters(t, leader); len(v) != 3 || !v[repl.id] || v[third.id] {
				return fmt.Errorf("voters %v", v)
			}
			st := apState(t, repl)
			if !st.Healthy || st.FailureTolerance != 1 {
				return fmt.Errorf("healthy %v, failure tolerance %d", st.Healthy, st.FailureTolerance)
			}
			return nil
		})
		if got := kvValue(t, repl, "two-of-three", pb.Consistency_CONSISTENCY_CONSISTENT); got != "v" {
			t.Fatalf("replacement reads %q", got)
		}
	})
}

// With cleanup off nothing is removed, and the configuration set through
// one server holds on every later leader.
func TestAutopilotConfigSurvivesLeaderChange(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		var got pb.AutopilotConfigResponse
		if err := call(leader, MethodAutopilotGetConfig, &pb.AutopilotConfigRequest{}, &got); err != nil {
			t.Fatal(err)
		}
		if !got.Config.CleanupDeadServers || got.Config.LastContactThresholdNanos != int64(200*time.Millisecond) || got.Config.ModifyIndex != 0 {
			t.Fatalf("default configuration %v", got.Config)
		}
		cfg := DefaultAutopilotConfig().toProto()
		cfg.CleanupDeadServers = false
		cfg.MaxTrailingLogs = 99
		var set pb.AutopilotSetConfigResponse
		if err := call(leader, MethodAutopilotSetConfig, &pb.AutopilotSetConfigRequest{Config: cfg, Cas: true}, &set); err != nil || !set.Ok {
			t.Fatalf("cas 0: ok %v, %v", set.Ok, err)
		}
		if err := call(leader, MethodAutopilotSetConfig, &pb.AutopilotSetConfigRequest{Config: cfg, Cas: true}, &set); err != nil || set.Ok {
			t.Fatalf("second cas 0: ok %v, %v", set.Ok, err)
		}
		bad := DefaultAutopilotConfig().toProto()
		bad.LastContactThresholdNanos = -1
		if err := call(leader, MethodAutopilotSetConfig, &pb.AutopilotSetConfigRequest{Config: bad}, &set); err == nil {
			t.Fatal("negative threshold accepted")
		}
		old := leader
		c.kill(old)
		next := c.waitLeader(c.followers(old)...)
		if err := call(next, MethodAutopilotGetConfig, &pb.AutopilotConfigRequest{}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Config.CleanupDeadServers || got.Config.MaxTrailingLogs != 99 || got.Config.ModifyIndex == 0 {
			t.Fatalf("configuration on the next leader %v", got.Config)
		}
		time.Sleep(3 * DefaultAutopilotConfig().ServerStabilizationTime) // bubble time: many autopilot passes, no waiting
		if v := raftVoters(t, next); len(v) != 3 {
			t.Fatalf("cleanup off, yet voters are %v", v)
		}
		st := apState(t, next)
		if st.Healthy || st.Leader != next.id || st.FailureTolerance != 0 {
			t.Fatalf("state with one of three down: %+v", st)
		}
		for _, srv := range st.Servers {
			if srv.Id == old.id && (srv.Healthy || srv.SerfStatus != "failed" || srv.LastContactNanos != -1) {
				t.Fatalf("dead server's health: %+v", srv)
			}
		}
	})
}

// Leadership moves to the named voter, or to any other without a name;
// bad targets are refused with a reason.
func TestRaftTransferLeader(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		target := c.followers(leader)[1]
		var resp pb.RaftTransferLeaderResponse
		if err := call(c.followers(leader)[0], MethodRaftTransferLeader, &pb.RaftTransferLeaderRequest{Id: target.id}, &resp); err != nil || !resp.Success {
			t.Fatalf("transfer to %s: %v %v", target.name, resp.Success, err)
		}
		if got := c.waitLeader(); got != target {
			t.Fatalf("leader %s, want %s", got.name, target.name)
		}
		if err := call(target, MethodRaftTransferLeader, &pb.RaftTransferLeaderRequest{}, &resp); err != nil || !resp.Success {
			t.Fatalf("transfer to anyone: %v %v", resp.Success, err)
		}
		if got := c.waitLeader(); got == target {
			t.Fatal("leadership stayed")
		}
		now := c.waitLeader()
		for _, id := range []string{now.id, "nobody"} {
			if err := call(now, MethodRaftTransferLeader, &pb.RaftTransferLeaderRequest{Id: id}, &resp); err == nil {
				t.Fatalf("transfer to %q accepted", id)
			}
		}
	})
}

// Consul's health rule, case by case.
func TestServerHealthy(t *testing.T) {
	conf := DefaultAutopilotConfig().toProto()
	ok := func() *pb.AutopilotServer {
		return &pb.AutopilotServer{SerfStatus: "alive", LastContactNanos: int64(50 * time.Millisecond), LastTerm: 4, LastIndex: 1000}
	}
	for _, tc := range []struct {
		name string
		edit func(*pb.AutopilotServer)
		want bool
	}{
		{"in step", func(*pb.AutopilotServer) {}, true},
		{"failed in the pool", func(s *pb.AutopilotServer) { s.SerfStatus = "failed" }, false},
		{"not in the pool", func(s *pb.AutopilotServer) { s.SerfStatus = "none" }, false},
		{"contact too old", func(s *pb.AutopilotServer) { s.LastContactNanos = int64(201 * time.Millisecond) }, false},
		{"contact at the threshold", func(s *pb.AutopilotServer) { s.LastContactNanos = int64(200 * time.Millisecond) }, true},
		{"never answered", func(s *pb.AutopilotServer) { s.LastContactNanos = -1 }, false},
		{"older term", func(s *pb.AutopilotServer) { s.LastTerm = 3 }, false},
		{"250 entries behind", func(s *pb.AutopilotServer) { s.LastIndex = 1000 - 250 }, true},
		{"251 entries behind", func(s *pb.AutopilotServer) { s.LastIndex = 1000 - 251 }, false},
		{"the leader", func(s *pb.AutopilotServer) { s.Leader, s.LastContactNanos = true, -1 }, true},
	} {
		s := ok()
		tc.edit(s)
		if got := serverHealthy(s, 4, 1000, conf); got != tc.want {
			t.Errorf("%s: healthy %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A server of an earlier version answers Status.RaftIndex with its index
// only: autopilot judges it by the pool and its log lag, and reports it
// healthy on the leader's term, so a datacenter in the middle of an
// upgrade is not reported unhealthy for it.
func TestAutopilotHealthOfAnEarlierVersion(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newTestCluster(t, 3, nil)
		leader := c.waitLeader()
		old := c.followers(leader)[0]
		leader.calls.setRewrite(func(addr, method string, resp proto.Message) {
			if r, ok := resp.(*pb.StatusRaftIndexResponse); ok && addr == old.addr {
				*r = pb.StatusRaftIndexResponse{LastIndex: r.LastIndex}
			}
		})
		waitFor(t, "the earlier version healthy", func() error {
			st := apState(t, leader)
			for _, srv := range st.Servers {
				if srv.Id == old.id {
					if !srv.Healthy || srv.LastIndex == 0 || srv.LastTerm == 0 || !st.Healthy {
						return fmt.Errorf("server %+v, datacenter healthy %v", srv, st.Healthy)
					}
					return nil
				}
			}
			return fmt.Errorf("%s not listed", old.name)
		})
		// Killed, it turns unhealthy by the pool's word.
		c.kill(old)
		waitFor(t, "the dead earlier version unhealthy", func() error {
			for _, srv := range apState(t, leader).Servers {
				if srv.Id == old.id && srv.Healthy {
					return fmt.Errorf("still healthy: %+v", srv)
				}
			}
			return nil
		})
	})
}

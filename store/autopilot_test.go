package store

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

func (a *applier) autopilot(cfg *pb.AutopilotConfig, cas bool) *Result {
	a.t.Helper()
	return a.cmd(&pb.Command{IgnoreIfUnknown: true, Cmd: &pb.Command_AutopilotConfig{
		AutopilotConfig: &pb.AutopilotConfigSet{Config: cfg, Cas: cas}}})
}

// The autopilot configuration is one row: set, replaced, guarded by
// check-and-set on its ModifyIndex, and carried through a snapshot.
func TestAutopilotConfig(t *testing.T) {
	a := newApplier(t)
	if got := a.s.AutopilotConfig(); got != nil {
		t.Fatalf("fresh store has a configuration: %v", got)
	}
	// cas 0 applies only while none is stored.
	if r := a.autopilot(&pb.AutopilotConfig{CleanupDeadServers: true, MinQuorum: 3}, true); r.Err != nil || !r.OK {
		t.Fatalf("first cas: ok %v, %v", r.OK, r.Err)
	}
	first := a.s.AutopilotConfig()
	if first.MinQuorum != 3 || first.CreateIndex != first.ModifyIndex || first.CreateIndex == 0 {
		t.Fatalf("stored %v", first)
	}
	if r := a.autopilot(&pb.AutopilotConfig{MinQuorum: 5}, true); r.Err != nil || r.OK {
		t.Fatalf("cas 0 on a stored configuration: ok %v, %v", r.OK, r.Err)
	}
	if r := a.autopilot(&pb.AutopilotConfig{MinQuorum: 5, ModifyIndex: first.ModifyIndex}, true); r.Err != nil || !r.OK {
		t.Fatalf("cas at the modify index: ok %v, %v", r.OK, r.Err)
	}
	if r := a.autopilot(&pb.AutopilotConfig{MaxTrailingLogs: 9}, false); r.Err != nil || !r.OK {
		t.Fatalf("plain set: ok %v, %v", r.OK, r.Err)
	}
	got := a.s.AutopilotConfig()
	if got.MaxTrailingLogs != 9 || got.MinQuorum != 0 || got.CreateIndex != first.CreateIndex || got.ModifyIndex <= first.ModifyIndex {
		t.Fatalf("after set: %v (first %v)", got, first)
	}
	got.MinQuorum = 42 // a copy: the stored row does not change
	if a.s.AutopilotConfig().MinQuorum == 42 {
		t.Fatal("AutopilotConfig handed out the stored row")
	}
	if r := a.autopilot(nil, false); r.Err == nil {
		t.Fatal("a command without a configuration was applied")
	}
	if r := a.autopilot(&pb.AutopilotConfig{LastContactThresholdNanos: -1}, false); r.Err == nil {
		t.Fatal("a negative threshold was applied")
	}

	var buf bytes.Buffer
	snap := a.s.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	restored := newTestStore(t)
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if r := restored.AutopilotConfig(); !proto.Equal(r, a.s.AutopilotConfig()) {
		t.Fatalf("restored %v, want %v", r, a.s.AutopilotConfig())
	}
}

// A server of an earlier version meets the autopilot command as an
// unknown field: it is marked ignorable, so that server skips it and goes
// on applying what follows. Simulated by renumbering the command's field
// to one this version does not know either.
func TestAutopilotCommandIsSkippedByEarlierVersions(t *testing.T) {
	cmd := &pb.Command{Cmd: &pb.Command_AutopilotConfig{
		AutopilotConfig: &pb.AutopilotConfigSet{Config: &pb.AutopilotConfig{MinQuorum: 3}}}}
	b := mustMarshal(t, cmd)
	num, typ, n := protowire.ConsumeTag(b)
	if num != 16 || typ != protowire.BytesType {
		t.Fatalf("the autopilot command is field %d, want 16 (log.proto)", num)
	}
	unknown := protowire.AppendTag(nil, 40, protowire.BytesType)
	unknown = append(unknown, b[n:]...)
	unknown = append(unknown, mustMarshal(t, &pb.Command{IgnoreIfUnknown: true})...)
	s := newTestStore(t)
	set := mustMarshal(t, &pb.Command{Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "after", Value: []byte("x")}}}})
	res := s.ApplyBatch([]Entry{{Index: 1, Data: unknown}, {Index: 2, Data: set}})
	if res[0].Err != nil || res[1].Err != nil || s.Stopped() != nil {
		t.Fatalf("results %v %v, stopped %v", res[0].Err, res[1].Err, s.Stopped())
	}
	if _, e, err := s.KVGet(nil, "after"); err != nil || e == nil {
		t.Fatalf("entry after the skipped command: %v %v", e, err)
	}
}

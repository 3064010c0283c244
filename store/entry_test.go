package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meridian-io/meridian/pb"
)

// futureCommand is a command of a type this version does not know (field
// 100 of Command, as a later version would write it).
func futureCommand(t *testing.T, ignorable bool) []byte {
	t.Helper()
	b := mustMarshal(t, &pb.Command{IgnoreIfUnknown: ignorable, NowUnixNano: 1})
	b = protowire.AppendTag(b, 100, protowire.BytesType)
	return protowire.AppendBytes(b, []byte("\x0a\x03abc"))
}

func kvSetEntry(t *testing.T, index uint64, key string) Entry {
	t.Helper()
	return Entry{Index: index, Data: mustMarshal(t, &pb.Command{Cmd: &pb.Command_Kv{Kv: &pb.KVOp{
		Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: key, Value: []byte("v")}}}})}
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnknownCommandStopsTheStore(t *testing.T) {
	s := newTestStore(t)
	results := s.ApplyBatch([]Entry{
		kvSetEntry(t, 1, "before"),
		{Index: 2, Data: futureCommand(t, false)},
		kvSetEntry(t, 3, "after"),
	})
	if results[0].Err != nil {
		t.Fatalf("entry before the unknown one: %v", results[0].Err)
	}
	for i, r := range results[1:] {
		if !errors.Is(r.Err, ErrStopped) {
			t.Fatalf("entry %d: err %v, want ErrStopped", i+2, r.Err)
		}
	}
	msg := results[1].Err.Error()
	if !strings.Contains(msg, "log entry 2") || !strings.Contains(msg, "command type 100") {
		t.Fatalf("error does not name the entry's index and type: %q", msg)
	}
	if got := s.Stopped(); got == nil || got.Error() != msg {
		t.Fatalf("Stopped() = %v, want %q", got, msg)
	}
	if _, e, _ := s.KVGet(nil, "before"); e == nil {
		t.Fatal("entry before the unknown one was not applied")
	}
	if _, e, _ := s.KVGet(nil, "after"); e != nil {
		t.Fatal("entry after the unknown one was applied")
	}
	// A later apply is refused as well, and changes nothing.
	if r := s.Apply(4, kvSetEntry(t, 4, "later").Data); !errors.Is(r.Err, ErrStopped) {
		t.Fatalf("apply after stop: %v", r.Err)
	}
	if last := s.LastIndex(); last != 1 {
		t.Fatalf("LastIndex %d after stop, want 1", last)
	}
}

func TestIgnorableUnknownCommandIsSkipped(t *testing.T) {
	s := newTestStore(t)
	results := s.ApplyBatch([]Entry{
		{Index: 1, Data: futureCommand(t, true)},
		kvSetEntry(t, 2, "after"),
	})
	for i, r := range results {
		if r.Err != nil || !r.OK {
			t.Fatalf("entry %d: ok=%v err=%v", i+1, r.OK, r.Err)
		}
	}
	if s.Stopped() != nil {
		t.Fatalf("stopped on an ignorable command: %v", s.Stopped())
	}
	if _, e, _ := s.KVGet(nil, "after"); e == nil {
		t.Fatal("entry after the skipped one was not applied")
	}
}

func TestUnknownCommandInBatch(t *testing.T) {
	unknown := func(ignorable bool) *pb.Command {
		c := &pb.Command{}
		if err := proto.Unmarshal(futureCommand(t, ignorable), c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	set := &pb.Command{Cmd: &pb.Command_Kv{Kv: &pb.KVOp{Verb: pb.KVVerb_KV_SET, Entry: &pb.KVEntry{Key: "k", Value: []byte("v")}}}}
	for _, ignorable := range []bool{true, false} {
		s := newTestStore(t)
		batch := &pb.Command{Cmd: &pb.Command_Batch{Batch: &pb.CommandBatch{Commands: []*pb.Command{set, unknown(ignorable)}}}}
		r := s.Apply(1, mustMarshal(t, batch))
		_, e, _ := s.KVGet(nil, "k")
		if ignorable {
			if r.Err != nil || len(r.Batch) != 2 || r.Batch[0].Err != nil || !r.Batch[1].OK || e == nil {
				t.Fatalf("ignorable command in a batch: %+v, key %v", r, e)
			}
			continue
		}
		if !errors.Is(r.Err, ErrStopped) || e != nil {
			t.Fatalf("batch with an unknown command: err %v, key %v; want the whole entry refused", r.Err, e)
		}
	}
}

func TestUndecodableEntryStopsTheStore(t *testing.T) {
	for name, data := range map[string][]byte{
		"garbage": []byte("\xff\xff\xff"),
		"empty":   {},
	} {
		s := newTestStore(t)
		if r := s.Apply(7, data); !errors.Is(r.Err, ErrStopped) || !strings.Contains(r.Err.Error(), "log entry 7") {
			t.Errorf("%s: %v", name, r.Err)
		}
	}
}

// TestEveryCommandTypeIsApplied keeps decodeEntry and applyCommand in step
// with pb.Command: every case of its oneof has an apply case.
func TestEveryCommandTypeIsApplied(t *testing.T) {
	oneof := (&pb.Command{}).ProtoReflect().Descriptor().Oneofs().ByName("cmd")
	fields := oneof.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		cmd := &pb.Command{}
		m := cmd.ProtoReflect()
		m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		tx := newTestStore(t).writeTxn()
		r, _ := applyCommand(tx, 1, cmd)
		tx.Abort()
		if r.Err != nil && strings.Contains(r.Err.Error(), "no apply case") {
			t.Errorf("command %s: %v", fd.Name(), r.Err)
		}
	}
}

func TestUnknownSnapshotRecord(t *testing.T) {
	stream := func(rec []byte) []byte {
		var buf bytes.Buffer
		if _, err := protodelim.MarshalTo(&buf, &pb.SnapshotHeader{Version: snapshotVersion}); err != nil {
			t.Fatal(err)
		}
		buf.Write(protowire.AppendBytes(nil, rec))
		if _, err := protodelim.MarshalTo(&buf, &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Footer{Footer: &pb.SnapshotFooter{Records: 1}}}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	future := func(ignorable bool) []byte {
		b := mustMarshal(t, &pb.SnapshotRecord{IgnoreIfUnknown: ignorable})
		b = protowire.AppendTag(b, 40, protowire.BytesType)
		return protowire.AppendBytes(b, []byte("x"))
	}
	s := newTestStore(t)
	if err := s.Restore(bytes.NewReader(stream(future(true)))); err != nil {
		t.Fatalf("ignorable unknown record: %v", err)
	}
	err := s.Restore(bytes.NewReader(stream(future(false))))
	if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "type 40") {
		t.Fatalf("unknown record: %v, want ErrBadSnapshot naming type 40", err)
	}
}

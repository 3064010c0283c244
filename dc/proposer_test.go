package dc

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/internal/bubble"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// stuckFuture is a Raft future nobody answers: what Raft leaves behind for
// an entry still queued (apply channel, FSM queue) when it shuts down.
type stuckFuture struct{ answer chan error }

func (f stuckFuture) Error() error { return <-f.answer }

func TestAwaitReturnsWhenRaftIsDown(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		s := &Server{raftDown: make(chan struct{})}
		answered := stuckFuture{answer: make(chan error, 1)}
		answered.answer <- raft.ErrLeadershipLost
		if err := s.await(answered); !errors.Is(err, raft.ErrLeadershipLost) {
			t.Fatalf("answered future: got %v", err)
		}

		stuck := stuckFuture{answer: make(chan error, 1)}
		var got error
		returned := false
		go func() {
			got = s.await(stuck)
			returned = true
		}()
		// Every goroutine of the bubble is blocked: await is waiting, and
		// would wait forever while Raft is up.
		synctest.Wait()
		if returned {
			t.Fatalf("await returned %v while Raft is up and the future unanswered", got)
		}
		close(s.raftDown)
		synctest.Wait()
		if !returned || !errors.Is(got, raft.ErrRaftShutdown) {
			t.Fatalf("after shutdown: returned %v with %v, want %v", returned, got, raft.ErrRaftShutdown)
		}
		// The goroutine still reading the future ends when it is answered
		// (or with the process: Raft never answers it after shutdown).
		stuck.answer <- raft.ErrRaftShutdown
	})
}

// A proposer that has stopped (the server shuts down) refuses proposals
// without starting a flush: a flush started after stop's wait would run
// against a Raft that is gone, and its WaitGroup Add would race the Wait.
func TestProposerRefusesAfterStop(t *testing.T) {
	p := &proposer{s: &Server{cfg: Config{MaxEntrySize: 1 << 20}}}
	p.stop()
	res, err := p.propose(context.Background(), &pb.Command{})
	if !errors.Is(err, rpc.ErrShutdown) || res != nil {
		t.Fatalf("propose after stop: %v, %v; want %v", res, err, rpc.ErrShutdown)
	}
	if p.inFlight != 0 || len(p.pending) != 0 {
		t.Fatalf("after a refused proposal: %d flushes, %d pending", p.inFlight, len(p.pending))
	}
}

// A batch's entry, put together from the proposals' encodings, decodes as
// the message encoded whole would: one command with the leader's clock, or
// a CommandBatch of them with the clock on the outer command.
func TestBatchEntryDecodesAsMarshalled(t *testing.T) {
	cmds := []*pb.Command{
		{Cmd: &pb.Command_Kv{Kv: kvSet("a", "1").Op}},
		{Cmd: &pb.Command_Txn{Txn: &pb.TxnCommand{Ops: []*pb.TxnOp{{Op: &pb.TxnOp_Kv{Kv: kvSet("b", "2").Op}}}}}},
		{Cmd: &pb.Command_TombstoneReap{TombstoneReap: &pb.TombstoneReap{Index: 7}}},
	}
	proposals := make([]*proposal, len(cmds))
	for i, c := range cmds {
		data, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		proposals[i] = &proposal{data: data}
	}
	const now = int64(1_700_000_000_123_456_789)
	for n := 1; n <= len(cmds); n++ {
		var want *pb.Command
		if n == 1 {
			want = proto.Clone(cmds[0]).(*pb.Command)
			want.NowUnixNano = now
		} else {
			want = &pb.Command{NowUnixNano: now, Cmd: &pb.Command_Batch{Batch: &pb.CommandBatch{Commands: cmds[:n]}}}
		}
		var got pb.Command
		if err := proto.Unmarshal(batchEntry(proposals[:n], now), &got); err != nil {
			t.Fatalf("%d commands: %v", n, err)
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("%d commands: entry decodes to %v, want %v", n, &got, want)
		}
	}
}

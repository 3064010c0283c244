package dc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// Group commit limits: how many Raft proposals may be in flight, and how
// much one may carry.
const (
	maxProposalsInFlight = 1
	maxBatchCommands     = 512
	maxBatchBytes        = 1 << 20
)

// proposer is the leader's group commit. Writes that arrive while
// proposals are in flight wait together and go to Raft as one entry (a
// CommandBatch), so under load many writes share one log append, one disk
// sync on every server and one replication round trip, while a lone write
// is proposed at once.
type proposer struct {
	s *Server

	mu       sync.Mutex
	pending  []*proposal
	inFlight int
	stopped  bool // set by stop: no flush starts after it
	wg       sync.WaitGroup
}

type proposal struct {
	data []byte // the command encoded (sizes batches, and goes in the entry as it is)
	done chan struct{}
	res  *store.Result
	err  error
}

// propose submits cmd and waits for its outcome. A caller that gives up
// (ctx) before its command is proposed takes it back; once proposed, the
// command's fate no longer depends on the caller.
func (p *proposer) propose(ctx context.Context, cmd *pb.Command) (*store.Result, error) {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	if len(data) > p.s.cfg.MaxEntrySize {
		return nil, fmt.Errorf("%w: command of %d bytes exceeds %d", rpc.ErrTooLarge, len(data), p.s.cfg.MaxEntrySize)
	}
	pr := &proposal{data: data, done: make(chan struct{})}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil, rpc.ErrShutdown
	}
	p.pending = append(p.pending, pr)
	if p.inFlight < maxProposalsInFlight {
		// Nothing in flight: nothing was pending either, so this write
		// leads the next batch. Proposing it from this goroutine spares a
		// lone write a goroutine start and a hand-off each way.
		p.inFlight++
		p.wg.Add(1)
		p.mu.Unlock()
		if err := ctx.Err(); err != nil {
			p.withdraw(pr) // nothing else takes from pending meanwhile
			go p.flush()   // what came meanwhile; it ends the flight
			return nil, err
		}
		p.lead()
		return pr.res, pr.err
	}
	p.mu.Unlock()
	select {
	case <-pr.done:
		return pr.res, pr.err
	case <-ctx.Done():
		if p.withdraw(pr) {
			return nil, ctx.Err()
		}
		<-pr.done // already proposed: its outcome is the caller's answer
		return pr.res, pr.err
	}
}

// stop waits for the flushes in progress (they end once Raft has shut
// down) and refuses proposals from then on. Setting stopped under the lock
// orders every flush start (its wg.Add) before the Wait.
func (p *proposer) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
}

// withdraw removes a proposal that has not been taken yet.
func (p *proposer) withdraw(pr *proposal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, q := range p.pending {
		if q == pr {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			return true
		}
	}
	return false
}

// lead proposes the next batch (the caller's write is its first) on the
// caller's goroutine, and leaves what came meanwhile to a flush.
func (p *proposer) lead() {
	batch := p.next()
	if len(batch) == 0 { // not so: the caller's write is pending
		p.wg.Done()
		return
	}
	p.apply(batch)
	p.mu.Lock()
	more := len(p.pending) > 0
	if !more {
		p.inFlight--
	}
	p.mu.Unlock()
	if more {
		go p.flush() // the flight and its wg count pass to it
		return
	}
	p.wg.Done()
}

// flush proposes what is pending, batch after batch, until nothing is.
func (p *proposer) flush() {
	defer p.wg.Done()
	for {
		batch := p.next()
		if len(batch) == 0 {
			return
		}
		p.apply(batch)
	}
}

// next takes the next batch from what is pending; with nothing pending it
// ends the flight and returns none.
func (p *proposer) next() []*proposal {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch, size := p.pending, 0
	n := 0
	for n < len(batch) && n < maxBatchCommands && (n == 0 || size+len(batch[n].data) <= maxBatchBytes) {
		size += len(batch[n].data)
		n++
	}
	if n == 0 {
		p.inFlight--
		return nil
	}
	p.pending = p.pending[n:]
	return batch[:n:n]
}

// apply proposes one batch and hands each proposal its outcome.
func (p *proposer) apply(batch []*proposal) {
	data := batchEntry(batch, p.s.clock.Now().UnixNano())
	f := p.s.raft.Apply(data, p.s.cfg.RPCHoldTimeout)
	err := applyError(p.s.await(f))
	var res *store.Result
	if err == nil {
		var ok bool
		if res, ok = f.Response().(*store.Result); !ok {
			err = fmt.Errorf("unexpected fsm response %T", f.Response())
		}
	}
	for i, pr := range batch {
		switch {
		case err != nil:
			pr.err = err
		case len(batch) == 1:
			pr.res, pr.err = resultOf(res)
		case i < len(res.Batch):
			pr.res, pr.err = resultOf(res.Batch[i])
		default:
			pr.err = errors.New("fsm answered a batch with too few results")
		}
		close(pr.done)
	}
}

// batchEntry is the Raft entry of a batch: the one command, or a
// CommandBatch of them, with the leader's clock (now_unix_nano) set on the
// outer command. It is put together from each proposal's encoding (what
// proto.Marshal of the same message gives, apart from field order, which
// decoding ignores) instead of encoding every command a second time; a
// scalar field appended after a message's own is the one decoding keeps.
func batchEntry(batch []*proposal, now int64) []byte {
	var out []byte
	if len(batch) == 1 {
		out = make([]byte, 0, len(batch[0].data)+protowire.SizeTag(commandNowField)+protowire.SizeVarint(uint64(now)))
		out = append(out, batch[0].data...)
	} else {
		inner := 0
		for _, pr := range batch {
			inner += protowire.SizeTag(commandBatchCommandsField) + protowire.SizeBytes(len(pr.data))
		}
		out = make([]byte, 0, protowire.SizeTag(commandBatchField)+protowire.SizeBytes(inner)+
			protowire.SizeTag(commandNowField)+protowire.SizeVarint(uint64(now)))
		out = protowire.AppendTag(out, commandBatchField, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(inner))
		for _, pr := range batch {
			out = protowire.AppendTag(out, commandBatchCommandsField, protowire.BytesType)
			out = protowire.AppendBytes(out, pr.data)
		}
	}
	out = protowire.AppendTag(out, commandNowField, protowire.VarintType)
	return protowire.AppendVarint(out, uint64(now))
}

// Field numbers of pb/log.proto that batchEntry writes
// (TestBatchEntryDecodesAsMarshalled holds them to the generated code).
const (
	commandBatchField         = 9  // Command.batch
	commandNowField           = 15 // Command.now_unix_nano
	commandBatchCommandsField = 1  // CommandBatch.commands
)

// await waits for a Raft future, or until Raft has shut down (see
// awaitRaft).
func (s *Server) await(f raft.Future) error { return awaitRaft(f, s.raftDown) }

// awaitRaft waits for a Raft future, or until down closes (Raft has shut
// down). Raft's apply channel (with BatchApplyCh) and its verify channel
// are buffered, and its FSM queue too: a future still in one of them when
// Raft stops is never answered, and without this its caller, and a
// shutdown waiting on that caller, would hang.
func awaitRaft(f raft.Future, down <-chan struct{}) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-down:
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// resultOf turns a store result into the caller's answer.
func resultOf(res *store.Result) (*store.Result, error) {
	if res.Err == nil {
		return res, nil
	}
	if errors.Is(res.Err, store.ErrBadCommand) || errors.Is(res.Err, store.ErrSessionNotFound) {
		msg := strings.TrimPrefix(res.Err.Error(), store.ErrBadCommand.Error()+": ")
		return nil, fmt.Errorf("%w: %s", rpc.ErrBadRequest, msg)
	}
	return nil, res.Err
}

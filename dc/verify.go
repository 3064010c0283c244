package dc

import (
	"sync"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/rpc"
)

// leaderVerifier confirms leadership with a quorum for linearizable reads,
// batching concurrent readers into one round (etcd's ReadIndex idea): a
// reader joins the next round, which starts only after it arrived, so a
// successful round proves this server led at some point after the read
// began. Reads then see every write acknowledged before they began, since
// the leader acknowledges a write only after applying it, and a new leader
// serves reads only after applying its predecessors' entries.
type leaderVerifier struct {
	raft *raft.Raft
	down <-chan struct{} // closed once Raft has shut down

	mu      sync.Mutex
	next    *verifyRound
	running bool
}

type verifyRound struct {
	done chan struct{}
	err  error
}

// verify blocks until a verification round that started after the call
// has finished, and returns its outcome.
func (v *leaderVerifier) verify() error {
	v.mu.Lock()
	if v.next == nil {
		v.next = &verifyRound{done: make(chan struct{})}
	}
	round := v.next
	if !v.running {
		v.running = true
		go v.run()
	}
	v.mu.Unlock()
	<-round.done
	return round.err
}

// run performs rounds until no reader waits. It is started by verify and
// ends by itself; Raft's shutdown fails a round in flight.
func (v *leaderVerifier) run() {
	for {
		v.mu.Lock()
		round := v.next
		v.next = nil
		if round == nil {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		if err := awaitRaft(v.raft.VerifyLeader(), v.down); err != nil {
			round.err = rpc.ErrNoLeader
		}
		close(round.done)
	}
}

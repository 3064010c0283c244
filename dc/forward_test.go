package dc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/meridian-io/meridian/rpc"
)

func TestApplyErrorsAndRetries(t *testing.T) {
	cases := []struct {
		name       string
		raftErr    error
		wantIs     error
		retryWrite bool
	}{
		{"refused by a follower", raft.ErrNotLeader, rpc.ErrNoLeader, true},
		{"transfer in progress", raft.ErrLeadershipTransferInProgress, rpc.ErrNoLeader, true},
		// The regression the chaos test found: a CAS in the log when
		// leadership was lost was retried on the new leader and answered
		// false although the first attempt had taken effect.
		{"leadership lost after append", raft.ErrLeadershipLost, ErrIndeterminate, false},
		{"shutdown", raft.ErrRaftShutdown, rpc.ErrShutdown, false},
		{"enqueue timeout", raft.ErrEnqueueTimeout, context.DeadlineExceeded, false},
	}
	for _, c := range cases {
		err := applyError(c.raftErr)
		if !errors.Is(err, c.wantIs) {
			t.Errorf("%s: %v is not %v", c.name, err, c.wantIs)
		}
		// What the forwarding server sees is the error after a trip
		// over the wire.
		wire := rpc.ErrorFromWire(rpc.ErrorToWire(err))
		if got := retryForward(wire, false); got != c.retryWrite {
			t.Errorf("%s: write retried = %v, want %v", c.name, got, c.retryWrite)
		}
	}
	if !retryForward(fmt.Errorf("dial: %w", rpc.ErrTransport), true) || retryForward(fmt.Errorf("dial: %w", rpc.ErrTransport), false) {
		t.Error("transport errors must be retried for reads only")
	}
}

package lan

import "github.com/meridian-io/meridian/internal/serfpool"

// Status is a member's gossip status; Code gives Consul's number for it
// (0 none, 1 alive, 2 leaving, 3 left, 4 failed).
type Status = serfpool.Status

// Member statuses.
const (
	StatusNone    = serfpool.StatusNone
	StatusAlive   = serfpool.StatusAlive
	StatusLeaving = serfpool.StatusLeaving
	StatusLeft    = serfpool.StatusLeft
	StatusFailed  = serfpool.StatusFailed
)

// Member is one agent of the pool as /v1/agent/members reports it. Its Tags
// map is the Member's own copy.
type Member = serfpool.Member

package agent

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// allDCTokenLimit is how many index vectors an agent remembers for
// blocking ?dc=* reads; the oldest are forgotten first.
const allDCTokenLimit = 10000

// allDCTokens mints the X-Consul-Index of ?dc=* answers. Such an answer
// merges several datacenters, each with its own Raft index; the official
// clients want one number back, so the agent hands out a token naming the
// vector of per-datacenter indexes and keeps the vector. A client passes
// the token back as ?index= and the agent blocks until any datacenter's
// index moves from the vector.
//
// Tokens are unique per vector (the same vector always gets the same
// token while remembered), never reused for another, and rise as new
// vectors appear: they start from the agent's start time in microseconds
// (below 2^53, so JavaScript clients keep them exact) so that a restarted
// agent does not hand out a token a client holds from before. A token the
// agent does not know answers at once (see lookup).
type allDCTokens struct {
	mu       sync.Mutex
	next     uint64
	byToken  map[uint64]map[string]uint64
	byVector map[string]uint64
	order    []uint64 // tokens, oldest first
	limit    int
}

func newAllDCTokens(start uint64, limit int) *allDCTokens {
	return &allDCTokens{
		next:     max(start, 1),
		byToken:  make(map[uint64]map[string]uint64),
		byVector: make(map[string]uint64),
		limit:    limit,
	}
}

// token returns the token of the vector of per-datacenter indexes.
func (t *allDCTokens) token(vec map[string]uint64) uint64 {
	key := vectorKey(vec)
	t.mu.Lock()
	defer t.mu.Unlock()
	if tok, ok := t.byVector[key]; ok {
		return tok
	}
	tok := t.next
	t.next++
	t.byToken[tok] = maps.Clone(vec)
	t.byVector[key] = tok
	t.order = append(t.order, tok)
	for len(t.order) > t.limit {
		old := t.order[0]
		t.order = t.order[1:]
		delete(t.byVector, vectorKey(t.byToken[old]))
		delete(t.byToken, old)
	}
	return tok
}

// lookup returns the vector a token names; false for a token this agent
// never minted or has forgotten.
func (t *allDCTokens) lookup(tok uint64) (map[string]uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	vec, ok := t.byToken[tok]
	return maps.Clone(vec), ok
}

// vectorKey writes a vector canonically: "dc1=10,dc2=7".
func vectorKey(vec map[string]uint64) string {
	var b strings.Builder
	for i, dc := range slices.Sorted(maps.Keys(vec)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(dc)
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(vec[dc], 10))
	}
	return b.String()
}

package dc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// KVReplicationConfig makes this datacenter's leader follow the KV keys
// under Prefixes (but not under Exclude) of SourceDatacenter. An empty
// SourceDatacenter disables replication.
type KVReplicationConfig struct {
	SourceDatacenter string
	Prefixes         []string
	Exclude          []string
	// Wait bounds one blocking query to the source; a partition is noticed
	// within Wait plus RPCSlack at the latest.
	Wait     time.Duration
	RPCSlack time.Duration
	// RetryMin and RetryMax bound the backoff after a failed round.
	RetryMin, RetryMax time.Duration
	// MaxChanges bounds one answer of the source; BatchChanges one Raft
	// command (a group of changes at one source index is never split).
	MaxChanges   int
	BatchChanges int
}

// Enabled reports whether replication is configured.
func (c KVReplicationConfig) Enabled() bool { return c.SourceDatacenter != "" }

func (c KVReplicationConfig) withDefaults() KVReplicationConfig {
	if c.Wait <= 0 {
		c.Wait = 30 * time.Second
	}
	if c.RPCSlack <= 0 {
		c.RPCSlack = 5 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 250 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(c.RetryMin, 10*time.Second)
	}
	if c.MaxChanges <= 0 {
		c.MaxChanges = 4096
	}
	if c.BatchChanges <= 0 {
		c.BatchChanges = 256
	}
	return c
}

// ValidateKVReplication checks a replication configuration for the
// datacenter local.
func ValidateKVReplication(c KVReplicationConfig, local string) error {
	if !c.Enabled() {
		if len(c.Prefixes) > 0 || len(c.Exclude) > 0 {
			return errors.New("kv_replication: source_datacenter is required")
		}
		return nil
	}
	if c.SourceDatacenter == local {
		return fmt.Errorf("kv_replication: source_datacenter %q is this datacenter", local)
	}
	if len(c.Prefixes) == 0 {
		return errors.New("kv_replication: at least one prefix is required")
	}
	for _, p := range c.Prefixes {
		if p == "" {
			return errors.New(`kv_replication: a prefix must not be empty (it would replicate every key)`)
		}
	}
	for _, x := range c.Exclude {
		if x == "" {
			return errors.New("kv_replication: an exclude prefix must not be empty")
		}
		if !slices.ContainsFunc(c.Prefixes, func(p string) bool { return strings.HasPrefix(x, p) }) {
			return fmt.Errorf("kv_replication: exclude %q is under no replicated prefix", x)
		}
	}
	return nil
}

// replicated reports whether key is a replicated key.
func (c KVReplicationConfig) replicated(key string) bool {
	if !c.Enabled() {
		return false
	}
	for _, x := range c.Exclude {
		if strings.HasPrefix(key, x) {
			return false
		}
	}
	for _, p := range c.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// overlapsTree reports whether deleting the tree under prefix would touch
// a replicated key.
func (c KVReplicationConfig) overlapsTree(prefix string) bool {
	if c.replicated(prefix) {
		return true
	}
	if !c.Enabled() {
		return false
	}
	for _, p := range c.Prefixes {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// kvReplStats is what this server knows of its replication, kept across
// its terms as leader (counters are this server's own).
type kvReplStats struct {
	mu          sync.Mutex
	running     bool
	sourceIndex uint64
	applied     uint64
	pending     uint64
	lastSync    time.Time
	inSync      bool
	lastErr     string
	lastErrAt   time.Time
	transferred uint64
	fullSyncs   uint64
	errors      uint64
}

// refuseReplicatedWrite refuses a local write to a replicated key: only
// the replication itself writes there.
func (s *Server) refuseReplicatedWrite(dcName string, op *pb.KVOp) error {
	rc := s.cfg.KVReplication
	if !rc.Enabled() || (dcName != "" && dcName != s.cfg.Datacenter) || op == nil || op.Entry == nil {
		return nil
	}
	key := op.Entry.Key
	switch op.Verb {
	case pb.KVVerb_KV_GET, pb.KVVerb_KV_GET_OR_EMPTY, pb.KVVerb_KV_GET_TREE, pb.KVVerb_KV_CHECK_INDEX, pb.KVVerb_KV_CHECK_SESSION, pb.KVVerb_KV_CHECK_NOT_EXISTS:
		return nil
	case pb.KVVerb_KV_DELETE_TREE:
		if !rc.overlapsTree(key) {
			return nil
		}
	default:
		if !rc.replicated(key) {
			return nil
		}
	}
	return fmt.Errorf("%w: key %q is replicated from datacenter %q; write it there", rpc.ErrPermissionDenied, key, rc.SourceDatacenter)
}

// runKVReplication follows the source datacenter until ctx ends (the
// leader's term). It resumes from the progress recorded in the store,
// which every server has.
func (s *Server) runKVReplication(ctx context.Context) {
	rc := s.cfg.KVReplication.withDefaults()
	st := &s.kvRepl
	since := uint64(0)
	if p := s.store.KVReplicationState(rc.SourceDatacenter); p != nil {
		since = p.SourceIndex
	}
	st.mu.Lock()
	st.running, st.applied, st.pending, st.inSync = true, since, 0, false
	st.sourceIndex = max(st.sourceIndex, since)
	if st.lastSync.IsZero() {
		st.lastSync = s.clock.Now()
	}
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.running = false
		st.mu.Unlock()
	}()
	s.log.Info("kv replication started", "source_dc", rc.SourceDatacenter, "prefixes", rc.Prefixes, "from_index", since)
	backoff := rc.RetryMin
	for ctx.Err() == nil {
		next, err := s.replicateOnce(ctx, rc, since)
		if err == nil {
			since, backoff = next, rc.RetryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		since = max(since, next)
		st.mu.Lock()
		st.inSync, st.lastErr, st.lastErrAt = false, err.Error(), s.clock.Now()
		st.errors++
		st.mu.Unlock()
		s.log.Warn("kv replication round failed", "source_dc", rc.SourceDatacenter, "error", err, "retry_in", backoff)
		retry, timer := clock.After(s.clock, backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-retry:
		}
		backoff = min(2*backoff, rc.RetryMax)
	}
}

// replicateOnce asks the source for the changes after since, waiting for
// one, and applies them. It returns the source index reached.
func (s *Server) replicateOnce(ctx context.Context, rc KVReplicationConfig, since uint64) (uint64, error) {
	req := &pb.KVChangesRequest{
		Query:    &pb.QueryOptions{Dc: rc.SourceDatacenter, MinIndex: since, MaxWaitNanos: int64(rc.Wait), Token: s.replicationToken()},
		Prefixes: rc.Prefixes, Exclude: rc.Exclude, SinceIndex: since, MaxChanges: uint32(rc.MaxChanges),
	}
	var resp pb.KVChangesResponse
	cctx, cancel := context.WithTimeout(ctx, rc.Wait+rc.Wait/16+rc.RPCSlack)
	_, err := s.forwardDC(cctx, MethodKVChanges, rc.SourceDatacenter, true, req, &resp)
	cancel()
	if err != nil {
		return since, fmt.Errorf("ask %s for changes: %w", rc.SourceDatacenter, err)
	}
	changes := s.changesToApply(rc, &resp)
	st := &s.kvRepl
	st.mu.Lock()
	st.sourceIndex = max(st.sourceIndex, resp.Index)
	st.pending = uint64(len(changes))
	st.transferred += uint64(len(resp.Entries) + len(resp.Deleted))
	if resp.Full {
		st.fullSyncs++
	}
	st.mu.Unlock()
	target := max(since, resp.Index)
	if resp.Full {
		// A full copy restarts the count: the source may have gone back
		// to an older state.
		target = resp.Index
	}
	for len(changes) > 0 {
		n := chunkLen(changes, rc.BatchChanges, resp.Full)
		chunk := changes[:n]
		changes = changes[n:]
		progress := target
		if len(changes) > 0 {
			// Resume after this chunk; a full copy is resumed from the start.
			progress = since
			if !resp.Full {
				progress = chunk[n-1].SourceIndex
			}
		}
		cmd := &pb.Command{Cmd: &pb.Command_KvReplication{KvReplication: &pb.KVReplicationApply{
			SourceDatacenter: rc.SourceDatacenter, SourceIndex: progress, Changes: chunk,
		}}}
		res, err := s.raftApply(ctx, cmd)
		if err == nil && res.Err != nil {
			err = res.Err
		}
		if err != nil {
			return since, fmt.Errorf("apply %d replicated changes: %w", len(chunk), err)
		}
		if !resp.Full {
			since = max(since, progress)
		}
		st.mu.Lock()
		st.applied, st.pending = since, st.pending-uint64(n)
		st.mu.Unlock()
	}
	st.mu.Lock()
	st.applied, st.pending = target, 0
	st.lastSync, st.inSync = s.clock.Now(), !resp.Truncated
	st.mu.Unlock()
	return target, nil
}

// changesToApply merges the source's set and deleted keys into one list
// in the source's index order; for a full answer, keys this datacenter has
// under the prefixes but the source does not are deleted last.
func (s *Server) changesToApply(rc KVReplicationConfig, resp *pb.KVChangesResponse) []*pb.KVReplicationChange {
	out := make([]*pb.KVReplicationChange, 0, len(resp.Entries)+len(resp.Deleted))
	i, j := 0, 0
	for i < len(resp.Entries) || j < len(resp.Deleted) {
		if j == len(resp.Deleted) || (i < len(resp.Entries) && resp.Entries[i].ModifyIndex <= resp.Deleted[j].Index) {
			e := resp.Entries[i]
			out = append(out, &pb.KVReplicationChange{Key: e.Key, Value: e.Value, Flags: e.Flags, SourceIndex: e.ModifyIndex})
			i++
			continue
		}
		d := resp.Deleted[j]
		out = append(out, &pb.KVReplicationChange{Key: d.Key, Delete: true, SourceIndex: d.Index})
		j++
	}
	if !resp.Full {
		return out
	}
	keep := make(map[string]bool, len(resp.Entries))
	for _, e := range resp.Entries {
		keep[e.Key] = true
	}
	for _, p := range rc.Prefixes {
		_, local, err := s.store.KVList(nil, p)
		if err != nil {
			continue
		}
		for _, e := range local {
			if !keep[e.Key] && rc.replicated(e.Key) {
				keep[e.Key] = true // once, though prefixes may overlap
				out = append(out, &pb.KVReplicationChange{Key: e.Key, Delete: true, SourceIndex: resp.Index})
			}
		}
	}
	return out
}

// chunkLen is how many of changes go into the next command: up to limit,
// and about 1 MiB, extended to the end of a group at one source index so
// that the progress recorded never splits one (a full copy is applied as
// a whole, so any cut does).
func chunkLen(changes []*pb.KVReplicationChange, limit int, full bool) int {
	const maxBytes = 1 << 20
	n, size := 0, 0
	for n < len(changes) && n < limit && (n == 0 || size+len(changes[n].Value) <= maxBytes) {
		size += len(changes[n].Key) + len(changes[n].Value)
		n++
	}
	for !full && n < len(changes) && changes[n].SourceIndex == changes[n-1].SourceIndex {
		n++
	}
	return n
}

// KVReplicationStatus reports this server's view of KV replication: the
// leader's is current, a follower's says it is not running.
func (s *Server) KVReplicationStatus() *pb.KVReplicationStatus {
	rc := s.cfg.KVReplication
	out := &pb.KVReplicationStatus{Enabled: rc.Enabled(), SourceDatacenter: rc.SourceDatacenter,
		Prefixes: slices.Clone(rc.Prefixes), Exclude: slices.Clone(rc.Exclude), Leader: s.cfg.NodeName}
	if !rc.Enabled() {
		return out
	}
	st := &s.kvRepl
	st.mu.Lock()
	defer st.mu.Unlock()
	out.Running = st.running
	out.SourceIndex, out.AppliedIndex, out.LagEntries = st.sourceIndex, st.applied, st.pending
	if !st.running {
		if p := s.store.KVReplicationState(rc.SourceDatacenter); p != nil {
			out.AppliedIndex = p.SourceIndex
		}
	}
	out.LastError, out.EntriesTransferred, out.FullSyncs, out.Errors = st.lastErr, st.transferred, st.fullSyncs, st.errors
	if !st.lastErrAt.IsZero() {
		out.LastErrorUnixNano = st.lastErrAt.UnixNano()
	}
	if !st.lastSync.IsZero() {
		out.LastSyncUnixNano = st.lastSync.UnixNano()
		// In step means: the last round applied everything, and the
		// source, which answers a blocking query within the wait, has
		// not been silent for longer (a partition may hold the round).
		rc := rc.withDefaults()
		since := s.clock.Now().Sub(st.lastSync)
		silent := since > rc.Wait+rc.Wait/16+time.Second
		if st.running && (!st.inSync || st.pending > 0 || silent) {
			out.LagSeconds = since.Seconds()
		}
	}
	return out
}

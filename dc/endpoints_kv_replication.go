package dc

import (
	"context"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// kvChanges answers a replicating datacenter: the changes under the
// prefixes after since_index, blocking (with query.min_index) until there
// is one. An answer with more than max_changes is cut after a whole group
// of changes at one index, and says so.
func (s *Server) kvChanges(ctx context.Context, req *pb.KVChangesRequest, resp *pb.KVChangesResponse) error {
	if len(req.Prefixes) == 0 {
		return fmt.Errorf("%w: kv changes: no prefix", rpc.ErrBadRequest)
	}
	if done, err := s.forwardQuery(ctx, MethodKVChanges, req.Query, req, resp); done {
		return err
	}
	if err := s.kvChangesAllowed(ctx, req); err != nil {
		return err
	}
	if resp.Meta == nil {
		resp.Meta = &pb.QueryMeta{}
	}
	since := req.SinceIndex
	return s.blockingQuery(ctx, req.Query, resp.Meta, func(ws memdb.WatchSet) (uint64, error) {
		entries, deleted, idx, full, err := s.store.KVChanges(ws, req.Prefixes, req.Exclude, since)
		if err != nil {
			return 0, err
		}
		resp.Entries, resp.Full, resp.Truncated = entries, full, false
		resp.Deleted = resp.Deleted[:0]
		for _, d := range deleted {
			resp.Deleted = append(resp.Deleted, &pb.KVDeletedKey{Key: d.Key, Index: d.Index})
		}
		// At least 1, so that a source without any KV write yet is not
		// asked for a full copy again and again.
		resp.Index = max(idx, 1)
		if limit := int(req.MaxChanges); !full && limit > 0 && len(entries)+len(deleted) > limit {
			resp.Index = truncateChanges(resp, limit)
			resp.Truncated = true
		}
		if full || len(entries)+len(deleted) > 0 {
			return max(resp.Index, since+1), nil
		}
		// Nothing new under the prefixes: keep waiting (the answer still
		// carries the index it is complete up to).
		return min(idx, since), nil
	})
}

// truncateChanges keeps the first limit changes in index order, extended
// to the end of the group at the last kept index, and returns that index.
func truncateChanges(resp *pb.KVChangesResponse, limit int) uint64 {
	i, j := 0, 0
	var cut uint64
	for i+j < limit {
		if j == len(resp.Deleted) || (i < len(resp.Entries) && resp.Entries[i].ModifyIndex <= resp.Deleted[j].Index) {
			cut = resp.Entries[i].ModifyIndex
			i++
		} else {
			cut = resp.Deleted[j].Index
			j++
		}
	}
	for i < len(resp.Entries) && resp.Entries[i].ModifyIndex == cut {
		i++
	}
	for j < len(resp.Deleted) && resp.Deleted[j].Index == cut {
		j++
	}
	resp.Entries, resp.Deleted = resp.Entries[:i], resp.Deleted[:j]
	return cut
}

// kvReplicationStatus reports the leader's replication status.
func (s *Server) kvReplicationStatus(ctx context.Context, req *pb.KVReplicationStatusRequest, resp *pb.KVReplicationStatus) error {
	if done, err := s.forwardRead(ctx, MethodKVReplicationStatus, req.Query, req, resp); done {
		return err
	}
	if err := s.need(ctx, req.Query.GetToken(), acl.ResourceOperator, acl.AccessRead, ""); err != nil {
		return err
	}
	st := s.KVReplicationStatus()
	st.Meta = &pb.QueryMeta{}
	s.setQueryMeta(st.Meta)
	proto.Merge(resp, st)
	return nil
}

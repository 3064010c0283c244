package agent

import (
	"net/http"
	"time"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// kvReplicationStatusJSON is the body of GET /v1/kv-replication/status
// (Meridian's own; Consul has no built-in KV replication).
type kvReplicationStatusJSON struct {
	Enabled          bool
	SourceDatacenter string
	Prefixes         []string
	Exclude          []string
	// Running is set while the leader (named by Leader) follows the source.
	Running bool
	Leader  string
	// SourceIndex is the newest source index seen, AppliedIndex the source
	// index up to which every change is applied here.
	SourceIndex  uint64
	AppliedIndex uint64
	// LagEntries are changes fetched but not applied yet; LagSeconds is
	// how long ago replication was last known to be in step (0 while it is).
	LagEntries         uint64
	LagSeconds         float64
	LastError          string
	LastErrorTime      *time.Time `json:",omitempty"`
	LastSyncTime       *time.Time `json:",omitempty"`
	EntriesTransferred uint64
	FullSyncs          uint64
	Errors             uint64
}

func unixNanoTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}

func (a *Agent) kvReplicationStatus(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var st pb.KVReplicationStatus
	if err := a.backend.RPC(r.Context(), dc.MethodKVReplicationStatus, &pb.KVReplicationStatusRequest{Query: q}, &st); err != nil {
		return nil, err
	}
	setMeta(w, st.Meta)
	out := kvReplicationStatusJSON{
		Enabled: st.Enabled, SourceDatacenter: st.SourceDatacenter, Prefixes: st.Prefixes, Exclude: st.Exclude,
		Running: st.Running, Leader: st.Leader, SourceIndex: st.SourceIndex, AppliedIndex: st.AppliedIndex,
		LagEntries: st.LagEntries, LagSeconds: st.LagSeconds, LastError: st.LastError,
		LastErrorTime: unixNanoTime(st.LastErrorUnixNano), LastSyncTime: unixNanoTime(st.LastSyncUnixNano),
		EntriesTransferred: st.EntriesTransferred, FullSyncs: st.FullSyncs, Errors: st.Errors,
	}
	if out.Prefixes == nil {
		out.Prefixes = []string{}
	}
	if out.Exclude == nil {
		out.Exclude = []string{}
	}
	return out, nil
}

package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/snapshot"
	"github.com/meridian-io/meridian/store"
)

// errNoSnapshotHere answers /v1/snapshot on a client agent: snapshots are
// taken and restored by the servers' Raft, and not relayed over RPC.
var errNoSnapshotHere = &httpError{code: http.StatusNotImplemented,
	msg: "snapshots are served by server agents; send the request to a server's HTTP address"}

// snapshotSave is GET /v1/snapshot: the archive of the datacenter's
// state, linearized unless ?stale. X-Consul-Index is the state's index.
// The transfer is not bound by the server's write timeout.
func (a *Agent) snapshotSave(w http.ResponseWriter, r *http.Request) (any, error) {
	if a.server == nil {
		return nil, errNoSnapshotHere
	}
	_, stale := query(r)["stale"]
	ss, err := a.server.SaveSnapshot(r.Context(), stale)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(ss.Meta.Index, 1), 10))
	w.Header().Set("X-Consul-KnownLeader", strconv.FormatBool(a.server.LeaderAddr() != ""))
	w.WriteHeader(http.StatusOK)
	if err := ss.WriteArchive(w); err != nil {
		// The status is sent; the client sees a cut archive, which it
		// refuses (the archive is verified on read).
		a.log.Warn("snapshot save: transfer cut", "error", err)
	}
	return nil, nil
}

// snapshotRestore is PUT /v1/snapshot: the body is an archive that
// replaces the datacenter's state, on the leader only. A damaged
// archive is a 400 and changes nothing.
func (a *Agent) snapshotRestore(w http.ResponseWriter, r *http.Request) (any, error) {
	if a.server == nil {
		return nil, errNoSnapshotHere
	}
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	// An archive may be large, but not without bound.
	_, err := a.server.RestoreSnapshot(r.Context(), http.MaxBytesReader(w, r.Body, maxSnapshotBody))
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &mbe):
		return nil, &httpError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("snapshot refused, nothing restored: archive larger than %d bytes", mbe.Limit)}
	case errors.Is(err, snapshot.ErrInvalid), errors.Is(err, store.ErrBadSnapshot):
		return nil, badRequest("snapshot refused, nothing restored: %v", err)
	case errors.Is(err, dc.ErrSnapshotNotLeader):
		return nil, &httpError{code: http.StatusServiceUnavailable, msg: err.Error() + "; this server is not the leader (see /v1/status/leader)"}
	}
	return nil, err
}

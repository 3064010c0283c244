package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
)

// snapshotUpstream opens the stream that serves a snapshot call made on
// this agent: a client agent hands every call to a server of its
// datacenter; a server agent hands on those for another datacenter and
// restores while it does not lead. nil: this server serves it.
func (a *Agent) snapshotUpstream(r *http.Request, method string, req *pb.SnapshotRequest) (*rpc.ClientStream, error) {
	if a.server != nil {
		return a.server.SnapshotUpstream(r.Context(), method, req)
	}
	sb, ok := a.backend.(*serverBackend)
	if !ok {
		return nil, fmt.Errorf("%w: no server to take the snapshot", rpc.ErrNoLeader)
	}
	return sb.openStream(r.Context(), method, req)
}

// snapshotRequest is the stream request of a /v1/snapshot call.
func (a *Agent) snapshotRequest(r *http.Request) *pb.SnapshotRequest {
	q := query(r)
	_, stale := q["stale"]
	return &pb.SnapshotRequest{Datacenter: q.Get("dc"), Token: a.requestToken(r), Stale: stale}
}

// snapshotSave is GET /v1/snapshot: the archive of the datacenter's
// state (?dc=, the local one by default), linearized unless ?stale.
// X-Consul-Index is the state's index. The transfer is not bound by the
// server's write timeout.
func (a *Agent) snapshotSave(w http.ResponseWriter, r *http.Request) (any, error) {
	req := a.snapshotRequest(r)
	up, err := a.snapshotUpstream(r, dc.MethodSnapshotSave, req)
	if err != nil {
		return nil, err
	}
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	if up != nil {
		defer up.Close()
		return nil, dc.SnapshotDownload(up, func(resp *pb.SnapshotResponse, archive io.Reader) error {
			a.sendArchive(w, resp.Index, resp.KnownLeader, func(w io.Writer) error {
				_, err := io.Copy(w, archive)
				return err
			})
			return nil
		})
	}
	ss, err := a.server.SaveSnapshot(r.Context(), req.Stale)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	a.sendArchive(w, ss.Meta.Index, a.server.LeaderAddr() != "", ss.WriteArchive)
	return nil, nil
}

// sendArchive answers a save with the archive write writes.
func (a *Agent) sendArchive(w http.ResponseWriter, index uint64, knownLeader bool, write func(io.Writer) error) {
	// Consul sets none: net/http sniffs the gzip archive as this.
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(index, 1), 10))
	w.Header().Set("X-Consul-KnownLeader", strconv.FormatBool(knownLeader))
	w.WriteHeader(http.StatusOK)
	if err := write(w); err != nil {
		// The status is sent; the client sees a cut archive, which it
		// refuses (the archive is verified on read).
		a.log.Warn("snapshot save: transfer cut", "error", err)
	}
}

// snapshotRestore is PUT /v1/snapshot: the body is an archive that
// replaces the state of the datacenter (?dc=), through its leader. A
// damaged archive is a 400 and changes nothing.
func (a *Agent) snapshotRestore(w http.ResponseWriter, r *http.Request) (any, error) {
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	// An archive may be large, but not without bound.
	body := http.MaxBytesReader(w, r.Body, maxSnapshotBody)
	up, err := a.snapshotUpstream(r, dc.MethodSnapshotRestore, a.snapshotRequest(r))
	if err != nil {
		return nil, err
	}
	if up != nil {
		defer up.Close()
		err = dc.SnapshotUpload(up, body)
	} else {
		_, err = a.server.RestoreSnapshot(r.Context(), body)
	}
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &mbe):
		return nil, &httpError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("snapshot refused, nothing restored: archive larger than %d bytes", mbe.Limit)}
	case errors.Is(err, dc.ErrSnapshotNotLeader):
		return nil, &httpError{code: http.StatusServiceUnavailable, msg: err.Error() + "; this server is not the leader (see /v1/status/leader)"}
	}
	return nil, dc.SnapshotRestoreError(err)
}

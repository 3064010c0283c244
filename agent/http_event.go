package agent

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// userEventJSON is Consul's UserEvent.
type userEventJSON struct {
	ID            string
	Name          string
	Payload       []byte
	NodeFilter    string
	ServiceFilter string
	TagFilter     string
	Version       int
	LTime         uint64
}

func toEventJSON(e *pb.UserEvent) userEventJSON {
	return userEventJSON{
		ID: e.Id, Name: e.Name, Payload: e.Payload, NodeFilter: e.NodeFilter,
		ServiceFilter: e.ServiceFilter, TagFilter: e.TagFilter, Version: int(e.Version), LTime: e.Ltime,
	}
}

// maxEventPayload keeps an encoded event within serf's user event limit.
const maxEventPayload = 400

func (a *Agent) eventFire(w http.ResponseWriter, r *http.Request) (any, error) {
	params := query(r)
	dcName := params.Get("dc")
	if err := a.checkDC(dcName); err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	if name == "" {
		return nil, badRequest("Missing name")
	}
	e := &pb.UserEvent{
		Id: newEventID(), Name: name, Version: 1,
		NodeFilter: params.Get("node"), ServiceFilter: params.Get("service"), TagFilter: params.Get("tag"),
	}
	if e.TagFilter != "" && e.ServiceFilter == "" {
		return nil, badRequest("Cannot provide tag filter without service filter")
	}
	for _, f := range []string{e.NodeFilter, e.ServiceFilter, e.TagFilter} {
		if _, err := regexp.Compile(f); err != nil {
			return nil, badRequest("Invalid filter %q: %v", f, err)
		}
	}
	payload, err := readBody(r, maxEventPayload)
	if err != nil {
		return nil, err
	}
	e.Payload = payload
	if dcName != "" && dcName != a.cfg.Datacenter {
		// A server of that datacenter fires it into its LAN pool.
		req := &pb.EventFireRequest{Dc: dcName, Event: e, Token: a.requestToken(r)}
		if err := a.backend.RPC(r.Context(), dc.MethodEventFire, req, &pb.EventFireResponse{}); err != nil {
			return nil, err
		}
		return toEventJSON(e), nil
	}
	if err := a.FireUserEvent(e); err != nil {
		return nil, badRequest("Failed to fire event: %v", err)
	}
	return toEventJSON(e), nil
}

// FireUserEvent gossips a user event to every agent of this datacenter.
// A server fires the events other datacenters send it (dc.UserEvents).
func (a *Agent) FireUserEvent(e *pb.UserEvent) error {
	data, err := proto.Marshal(e)
	if err != nil {
		return err
	}
	return a.lan.UserEvent(eventPrefix+e.Name, data, false)
}

func (a *Agent) eventList(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	name := query(r).Get("name")
	events, idx, changed := a.events.list(name)
	idx = max(idx, 1)
	if q.MinIndex > 0 && idx == q.MinIndex {
		wait := time.Duration(q.MaxWaitNanos)
		if wait <= 0 {
			wait = 5 * time.Minute
		}
		timer := time.NewTimer(min(wait, 10*time.Minute))
		defer timer.Stop()
	waitLoop:
		for idx == q.MinIndex {
			select {
			case <-changed:
				events, idx, changed = a.events.list(name)
				idx = max(idx, 1)
			case <-timer.C:
				break waitLoop
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	w.Header().Set("X-Consul-Index", strconv.FormatUint(idx, 10))
	out := make([]userEventJSON, 0, len(events))
	for _, e := range events {
		out = append(out, toEventJSON(e))
	}
	return out, nil
}

func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

package agent

import (
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/pb"
)

// eventPrefix marks Meridian's user events among serf's.
const eventPrefix = "meridian-event:"

// maxEvents is how many events an agent remembers (Consul's 256).
const maxEvents = 256

// eventBuffer keeps the last events this agent received, and wakes
// blocked /v1/event/list readers when one arrives.
type eventBuffer struct {
	mu     sync.Mutex
	events []*pb.UserEvent
	notify chan struct{}
}

func newEventBuffer() *eventBuffer {
	return &eventBuffer{notify: make(chan struct{})}
}

func (b *eventBuffer) add(e *pb.UserEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
	if len(b.events) > maxEvents {
		b.events = b.events[len(b.events)-maxEvents:]
	}
	close(b.notify)
	b.notify = make(chan struct{})
}

// list returns the events named name ("" for all), oldest first, the index
// derived from the newest, and a channel closed on the next event.
func (b *eventBuffer) list(name string) ([]*pb.UserEvent, uint64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*pb.UserEvent
	for _, e := range b.events {
		if name == "" || e.Name == name {
			out = append(out, e)
		}
	}
	var idx uint64
	if len(out) > 0 {
		idx = eventIndex(out[len(out)-1].Id)
	}
	return out, idx, b.notify
}

// eventIndex turns an event ID into the opaque index of /v1/event/list,
// as Consul does: the two halves of the UUID XORed.
func eventIndex(id string) uint64 {
	raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(raw) != 16 {
		return 1
	}
	return binary.BigEndian.Uint64(raw[:8]) ^ binary.BigEndian.Uint64(raw[8:])
}

// onLANEvents calls fn for every LAN pool event, on a goroutine the agent
// owns, until the agent stops.
func (a *Agent) onLANEvents(fn func(lan.Event)) {
	events, cancel := a.lan.Subscribe()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		for {
			select {
			case <-a.ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				fn(ev)
			}
		}
	}()
}

// receiveUserEvent keeps a Meridian user event that passes this agent's
// filters.
func (a *Agent) receiveUserEvent(ev lan.Event) {
	if ev.Kind != lan.EventUser || !strings.HasPrefix(ev.Name, eventPrefix) {
		return
	}
	var ue pb.UserEvent
	if err := proto.Unmarshal(ev.Payload, &ue); err != nil {
		a.log.Warn("undecodable user event", "name", ev.Name, "error", err)
		return
	}
	ue.Ltime = ev.LTime
	if a.eventMatches(&ue) {
		a.events.add(&ue)
	}
}

// eventMatches applies an event's filters to this agent: its node name,
// and the names and tags of its local services.
func (a *Agent) eventMatches(e *pb.UserEvent) bool {
	if e.NodeFilter != "" {
		re, err := regexp.Compile(e.NodeFilter)
		if err != nil || !re.MatchString(a.cfg.NodeName) {
			return false
		}
	}
	if e.ServiceFilter == "" {
		return true
	}
	sre, err := regexp.Compile(e.ServiceFilter)
	if err != nil {
		return false
	}
	var tre *regexp.Regexp
	if e.TagFilter != "" {
		if tre, err = regexp.Compile(e.TagFilter); err != nil {
			return false
		}
	}
	for _, svc := range a.localServices() {
		if !sre.MatchString(svc.Service) {
			continue
		}
		if tre == nil {
			return true
		}
		for _, t := range svc.Tags {
			if tre.MatchString(t) {
				return true
			}
		}
	}
	return false
}

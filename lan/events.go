package lan

import (
	"sync"

	"github.com/hashicorp/serf/serf"
)

// EventKind says what happened in the pool.
type EventKind int

// Event kinds, one per serf event type the pool forwards.
const (
	EventJoin   EventKind = iota + 1 // members joined or came back alive
	EventLeave                       // members left gracefully
	EventFailed                      // members stopped answering
	EventUpdate                      // members changed their tags
	EventReap                        // failed or left members were forgotten
	EventUser                        // a user event was received
)

// String returns the kind's name ("join", "leave", ...).
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventFailed:
		return "failed"
	case EventUpdate:
		return "update"
	case EventReap:
		return "reap"
	case EventUser:
		return "user"
	default:
		return "unknown"
	}
}

// Event is one pool event. Subscribers share it: treat it as read-only.
type Event struct {
	Kind EventKind
	// Members are the members concerned (member events).
	Members []Member
	// Name, Payload, LTime and Coalesce describe a user event.
	Name     string
	Payload  []byte
	LTime    uint64
	Coalesce bool
	// Resync is set when an event queued before this one was dropped
	// because the subscriber fell behind: it should re-read Pool.Members.
	// (Several queued events may carry it after one overflow.)
	Resync bool
}

// fromSerfEvent converts a serf event; it reports false for events the pool
// does not forward (queries).
func fromSerfEvent(e serf.Event) (Event, bool) {
	switch e := e.(type) {
	case serf.MemberEvent:
		var kind EventKind
		switch e.Type {
		case serf.EventMemberJoin:
			kind = EventJoin
		case serf.EventMemberLeave:
			kind = EventLeave
		case serf.EventMemberFailed:
			kind = EventFailed
		case serf.EventMemberUpdate:
			kind = EventUpdate
		case serf.EventMemberReap:
			kind = EventReap
		default:
			return Event{}, false
		}
		return Event{Kind: kind, Members: fromSerfAll(e.Members)}, true
	case serf.UserEvent:
		return Event{
			Kind:     EventUser,
			Name:     e.Name,
			Payload:  append([]byte(nil), e.Payload...),
			LTime:    uint64(e.LTime),
			Coalesce: e.Coalesce,
		}, true
	default:
		return Event{}, false
	}
}

// subscribers fans events out to buffered channels without blocking: when a
// subscriber's buffer is full its oldest event is dropped and the next one
// it receives carries Resync.
type subscribers struct {
	mu     sync.Mutex
	next   int
	chans  map[int]chan Event
	size   int
	closed bool
}

func newSubscribers(size int) *subscribers {
	size = max(size, 1) // deliver needs a buffer to drop from
	return &subscribers{chans: make(map[int]chan Event), size: size}
}

// subscribe registers a channel; cancel unregisters and closes it. After
// closeAll the returned channel is already closed.
func (s *subscribers) subscribe() (<-chan Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan Event, s.size)
	if s.closed {
		close(ch)
		return ch, func() {}
	}
	id := s.next
	s.next++
	s.chans[id] = ch
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.chans[id]; ok {
			delete(s.chans, id)
			close(c)
		}
	}
}

// publish delivers ev to every subscriber without blocking.
func (s *subscribers) publish(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.chans {
		deliver(ch, ev)
	}
}

// deliver sends ev on ch, dropping ch's oldest events while it is full.
// Only publish sends on ch, under the lock, so the loop ends: each pass
// either sends or frees a slot.
func deliver(ch chan Event, ev Event) {
	for {
		select {
		case ch <- ev:
			return
		default:
		}
		select {
		case <-ch:
			ev.Resync = true
		default:
		}
	}
}

// closeAll closes every subscriber channel; later subscriptions get a
// closed channel.
func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for id, ch := range s.chans {
		delete(s.chans, id)
		close(ch)
	}
}

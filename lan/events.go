package lan

import (
	"sync"

	"github.com/meridian-io/meridian/internal/serfpool"
)

// EventKind says what happened in the pool; String gives its name ("join",
// "leave", ...).
type EventKind = serfpool.EventKind

// Event kinds, one per serf event type the pool forwards.
const (
	EventJoin   = serfpool.EventJoin   // members joined or came back alive
	EventLeave  = serfpool.EventLeave  // members left gracefully
	EventFailed = serfpool.EventFailed // members stopped answering
	EventUpdate = serfpool.EventUpdate // members changed their tags
	EventReap   = serfpool.EventReap   // failed or left members were forgotten
	EventUser   = serfpool.EventUser   // a user event was received
)

// Event is one pool event: Kind and Members for member events; Name,
// Payload, LTime and Coalesce for a user event. Resync is set when an event
// queued before this one was dropped because the subscriber fell behind:
// it should re-read Pool.Members. Subscribers share it: treat it as
// read-only.
type Event = serfpool.Event

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

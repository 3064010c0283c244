package serfpool

import "github.com/hashicorp/serf/serf"

// EventKind says what happened in a pool.
type EventKind int

// Event kinds, one per serf event type a pool forwards.
const (
	EventJoin   EventKind = iota + 1 // members joined or came back alive
	EventLeave                       // members left gracefully (or were force-left)
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

// Event is one pool event. Whoever receives it shares it: treat it as
// read-only.
type Event struct {
	Kind EventKind
	// Members are the members concerned (member events).
	Members []Member
	// Name, Payload, LTime and Coalesce describe a user event.
	Name     string
	Payload  []byte
	LTime    uint64
	Coalesce bool
	// Resync is set by a fan-out that had to drop an event queued before
	// this one because its receiver fell behind: the receiver should
	// re-read the pool's members. (Several queued events may carry it
	// after one overflow.) FromSerfEvent never sets it.
	Resync bool
}

// FromSerfEvent converts a serf event; it reports false for events a pool
// does not forward (queries).
func FromSerfEvent(e serf.Event) (Event, bool) {
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
		return Event{Kind: kind, Members: FromSerfAll(e.Members)}, true
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

package wan

import "github.com/hashicorp/serf/serf"

// EventKind says what happened to members of the pool.
type EventKind int

// Event kinds, one per serf member event type.
const (
	EventJoin   EventKind = iota + 1 // members joined or came back alive
	EventLeave                       // members left gracefully (or were force-left)
	EventFailed                      // members stopped answering
	EventUpdate                      // members changed their tags
	EventReap                        // failed or left members were forgotten
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
	default:
		return "unknown"
	}
}

// Event is one membership event of the pool, as the Router observes it.
type Event struct {
	Kind    EventKind
	Members []Member
}

// fromSerfEvent converts a serf member event; it reports false for other
// events (user events and queries, which the WAN pool does not use).
func fromSerfEvent(e serf.Event) (Event, bool) {
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return Event{}, false
	}
	var kind EventKind
	switch me.Type {
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
	return Event{Kind: kind, Members: fromSerfAll(me.Members)}, true
}

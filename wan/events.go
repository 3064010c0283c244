package wan

import "github.com/meridian-io/meridian/internal/serfpool"

// EventKind says what happened to members of the pool; String gives its
// name ("join", "leave", ...).
type EventKind = serfpool.EventKind

// Event kinds, one per serf member event type.
const (
	EventJoin   = serfpool.EventJoin   // members joined or came back alive
	EventLeave  = serfpool.EventLeave  // members left gracefully (or were force-left)
	EventFailed = serfpool.EventFailed // members stopped answering
	EventUpdate = serfpool.EventUpdate // members changed their tags
	EventReap   = serfpool.EventReap   // failed or left members were forgotten
)

// Event is one membership event of the pool, as the Router observes it.
type Event struct {
	Kind    EventKind
	Members []Member
}

// fromPoolEvent keeps the member events of the pool; it reports false for
// user events, which the WAN pool does not use.
func fromPoolEvent(ev serfpool.Event) (Event, bool) {
	if ev.Kind == serfpool.EventUser {
		return Event{}, false
	}
	return Event{Kind: ev.Kind, Members: ev.Members}, true
}

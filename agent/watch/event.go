package watch

import (
	"encoding/json"
	"strconv"
)

// EventIDToIndex turns an event ID (a UUID) into the index the agent's
// event list reports for it, as Consul's api.Event.IDToIndex does: the XOR
// of the UUID's first and last 64 bits. A malformed ID gives 0.
func EventIDToIndex(id string) uint64 {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0
	}
	lower := id[0:8] + id[9:13] + id[14:18]
	upper := id[19:23] + id[24:36]
	lo, err := strconv.ParseUint(lower, 16, 64)
	if err != nil {
		return 0
	}
	hi, err := strconv.ParseUint(upper, 16, 64)
	if err != nil {
		return 0
	}
	return lo ^ hi
}

// eventsAfter returns the events of the list (raw JSON) that follow the
// one whose ID maps to index; all of them if none does (the first call, or
// the event aged out of the agent's buffer).
func eventsAfter(result any, index uint64) any {
	raw, ok := result.(json.RawMessage)
	if !ok || index == 0 {
		return result
	}
	var events []json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		return result
	}
	for i, e := range events {
		var ev struct{ ID string }
		if json.Unmarshal(e, &ev) == nil && ev.ID != "" && EventIDToIndex(ev.ID) == index {
			out, err := json.Marshal(events[i+1:])
			if err != nil {
				return result
			}
			return json.RawMessage(out)
		}
	}
	return result
}

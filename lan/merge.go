package lan

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/serf/serf"
)

// Reasons a member is refused; memberlist reports them to the joining side
// as text, so Join errors cannot be matched with errors.Is across the wire.
var (
	ErrWrongDatacenter = errors.New("member belongs to another datacenter")
	ErrDuplicateNodeID = errors.New("member has a conflicting node ID")
)

// mergeDelegate is serf's MergeDelegate: it vets members before they enter
// the pool, both for whole-cluster merges (join, push/pull) and for single
// alive messages.
type mergeDelegate struct {
	dc       string
	nodeName string
	nodeID   string
	ids      *idIndex
}

var _ serf.MergeDelegate = (*mergeDelegate)(nil)

// NotifyMerge refuses the batch if any member is of another datacenter or
// claims a node ID held by this agent, by another member of the batch, or
// by a live member of the pool under another name. Members that left are
// not checked for IDs.
func (d *mergeDelegate) NotifyMerge(members []*serf.Member) error {
	batch := make(map[string]string, len(members)) // id -> name
	for _, m := range members {
		if dc := m.Tags[TagDatacenter]; dc != d.dc {
			return fmt.Errorf("%w: %q is in %q, this pool is %q", ErrWrongDatacenter, m.Name, dc, d.dc)
		}
		id := m.Tags[TagID]
		if id == "" || m.Status == serf.StatusLeft {
			continue // a member that left gave its ID up
		}
		if id == d.nodeID && !strings.EqualFold(m.Name, d.nodeName) {
			return fmt.Errorf("%w: %q has this agent's ID %q", ErrDuplicateNodeID, m.Name, id)
		}
		if other, ok := batch[id]; ok && !strings.EqualFold(other, m.Name) {
			return fmt.Errorf("%w: %q and %q share ID %q", ErrDuplicateNodeID, m.Name, other, id)
		}
		batch[id] = m.Name
		if owner, ok := d.ids.owner(id); ok && !strings.EqualFold(owner, m.Name) {
			return fmt.Errorf("%w: %q claims ID %q of live member %q", ErrDuplicateNodeID, m.Name, id, owner)
		}
	}
	return nil
}

// idIndex maps the node IDs of live members to their names. It is fed from
// the event pump rather than by asking serf, because the merge delegate runs
// under memberlist's locks and must not call back into serf or memberlist.
type idIndex struct {
	mu     sync.Mutex
	byName map[string]string // lower-case name -> id
	byID   map[string]string // id -> name
}

func newIDIndex() *idIndex {
	return &idIndex{byName: make(map[string]string), byID: make(map[string]string)}
}

// owner returns the live member holding id.
func (x *idIndex) owner(id string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	name, ok := x.byID[id]
	return name, ok
}

// apply records a member event: alive members hold their ID, others free it.
func (x *idIndex) apply(ev Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, m := range ev.Members {
		key := strings.ToLower(m.Name)
		if old, ok := x.byName[key]; ok {
			delete(x.byName, key)
			if strings.EqualFold(x.byID[old], m.Name) {
				delete(x.byID, old)
			}
		}
		id := m.Tags[TagID]
		if (ev.Kind == EventJoin || ev.Kind == EventUpdate) && m.Status == StatusAlive && id != "" {
			x.byName[key] = id
			x.byID[id] = m.Name
		}
	}
}

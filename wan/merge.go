package wan

import (
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-io/meridian/internal/serfpool"
)

// mergeDelegate is serf's MergeDelegate: it vets members before they enter
// the pool, both for whole-cluster merges (join, push/pull) and for single
// alive messages. Only servers named "node.dc" enter the WAN pool.
type mergeDelegate struct{}

var _ serf.MergeDelegate = mergeDelegate{}

// NotifyMerge refuses the batch if any member is not a WAN server: its
// name lacks the ".dc" suffix matching its "dc" tag, or its tags are not a
// server's. It runs under memberlist's locks and calls nothing back.
func (mergeDelegate) NotifyMerge(members []*serf.Member) error {
	for _, m := range members {
		if _, err := ServerFromMember(serfpool.FromSerf(*m)); err != nil {
			return err
		}
	}
	return nil
}

package serfpool

import (
	"maps"
	"net"

	"github.com/hashicorp/serf/serf"
)

// Status is a member's gossip status.
type Status string

// Member statuses, with Consul's numeric codes in Code.
const (
	StatusNone    Status = "none"
	StatusAlive   Status = "alive"
	StatusLeaving Status = "leaving"
	StatusLeft    Status = "left"
	StatusFailed  Status = "failed"
)

// Code returns Consul's number for s (0 none, 1 alive, 2 leaving, 3 left,
// 4 failed), as /v1/agent/members prints it.
func (s Status) Code() int {
	switch s {
	case StatusAlive:
		return 1
	case StatusLeaving:
		return 2
	case StatusLeft:
		return 3
	case StatusFailed:
		return 4
	default:
		return 0
	}
}

// Member is one member of a pool as /v1/agent/members reports it. Its Tags
// map is the Member's own copy.
type Member struct {
	Name       string
	Addr       net.IP
	Port       uint16
	Tags       map[string]string
	Status     Status
	StatusCode int

	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// fromSerfStatus maps serf's status to ours.
func fromSerfStatus(s serf.MemberStatus) Status {
	switch s {
	case serf.StatusAlive:
		return StatusAlive
	case serf.StatusLeaving:
		return StatusLeaving
	case serf.StatusLeft:
		return StatusLeft
	case serf.StatusFailed:
		return StatusFailed
	default:
		return StatusNone
	}
}

// FromSerf copies a serf member.
func FromSerf(m serf.Member) Member {
	st := fromSerfStatus(m.Status)
	return Member{
		Name:        m.Name,
		Addr:        append(net.IP(nil), m.Addr...),
		Port:        m.Port,
		Tags:        maps.Clone(m.Tags),
		Status:      st,
		StatusCode:  st.Code(),
		ProtocolMin: m.ProtocolMin,
		ProtocolMax: m.ProtocolMax,
		ProtocolCur: m.ProtocolCur,
		DelegateMin: m.DelegateMin,
		DelegateMax: m.DelegateMax,
		DelegateCur: m.DelegateCur,
	}
}

// FromSerfAll copies a slice of serf members.
func FromSerfAll(ms []serf.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = FromSerf(m)
	}
	return out
}

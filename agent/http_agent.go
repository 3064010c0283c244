package agent

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/meridian-io/meridian/lan"
	"github.com/meridian-io/meridian/wan"
)

// memberJSON is Consul's AgentMember.
type memberJSON struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

func toMemberJSON(m lan.Member) memberJSON {
	addr := ""
	if m.Addr != nil {
		addr = m.Addr.String()
	}
	return memberJSON{
		Name: m.Name, Addr: addr, Port: m.Port, Tags: m.Tags, Status: m.StatusCode,
		ProtocolMin: m.ProtocolMin, ProtocolMax: m.ProtocolMax, ProtocolCur: m.ProtocolCur,
		DelegateMin: m.DelegateMin, DelegateMax: m.DelegateMax, DelegateCur: m.DelegateCur,
	}
}

func toWANMemberJSON(m wan.Member) memberJSON {
	return toMemberJSON(lan.Member{
		Name: m.Name, Addr: m.Addr, Port: m.Port, Tags: m.Tags, StatusCode: m.StatusCode,
		ProtocolMin: m.ProtocolMin, ProtocolMax: m.ProtocolMax, ProtocolCur: m.ProtocolCur,
		DelegateMin: m.DelegateMin, DelegateMax: m.DelegateMax, DelegateCur: m.DelegateCur,
	})
}

func (a *Agent) agentSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	stats := map[string]map[string]string{
		"agent": {
			"checks":   strconv.Itoa(len(a.local.State().Checks())),
			"services": strconv.Itoa(len(a.local.State().Services())),
		},
		"build": {"version": Version, "revision": Revision, "prerelease": ""},
		"runtime": {
			"arch": runtime.GOARCH, "os": runtime.GOOS, "version": runtime.Version(),
			"goroutines": strconv.Itoa(runtime.NumGoroutine()), "max_procs": strconv.Itoa(runtime.GOMAXPROCS(0)),
			"cpu_count": strconv.Itoa(runtime.NumCPU()),
		},
		"serf_lan": a.lan.Stats(),
		"consul": {
			"server":            strconv.FormatBool(a.server != nil),
			"known_datacenters": "1",
		},
	}
	if a.wan != nil {
		stats["serf_wan"] = a.wan.Stats()
	}
	if a.server != nil {
		stats["consul"]["known_datacenters"] = strconv.Itoa(len(a.server.Datacenters()))
	}
	if a.server != nil {
		stats["raft"] = a.server.Stats()
		stats["consul"]["leader"] = strconv.FormatBool(a.server.IsLeader())
		stats["consul"]["leader_addr"] = a.server.LeaderAddr()
		stats["consul"]["bootstrap"] = strconv.FormatBool(a.cfg.Bootstrap)
	}
	meta := a.cfg.NodeMeta
	if meta == nil {
		meta = map[string]string{}
	}
	raft := a.raftProfile()
	return map[string]any{
		"Config": map[string]any{
			"Datacenter":        a.cfg.Datacenter,
			"PrimaryDatacenter": cmp.Or(a.cfg.PrimaryDatacenter, a.cfg.Datacenter),
			"NodeName":          a.cfg.NodeName,
			"NodeID":            a.cfg.NodeID,
			"Server":            a.server != nil,
			"Revision":          Revision,
			"Version":           Version,
		},
		"DebugConfig": map[string]any{
			"Datacenter": a.cfg.Datacenter, "NodeName": a.cfg.NodeName, "DataDir": a.cfg.DataDir,
			"ServerMode": a.server != nil, "BootstrapExpect": a.cfg.BootstrapExpect, "ConnectEnabled": false,
			// Consul's names for the Raft timeouts a server runs with.
			"ConsulRaftHeartbeatTimeout":   raft.HeartbeatTimeout.String(),
			"ConsulRaftElectionTimeout":    raft.ElectionTimeout.String(),
			"ConsulRaftLeaderLeaseTimeout": raft.LeaderLeaseTimeout.String(),
		},
		"Coord":  map[string]any{"Vec": make([]float64, 8), "Error": 1.5, "Adjustment": 0, "Height": 1e-5},
		"Member": toMemberJSON(a.lan.LocalMember()),
		"Stats":  stats,
		"Meta":   meta,
		// Security is Meridian's: what leaves this agent open. Every
		// top-level value is an object, as clients decode them.
		"Security": map[string]any{"Warnings": nonNil(a.securityWarnings())},
	}, nil
}

func (a *Agent) agentMembers(w http.ResponseWriter, r *http.Request) (any, error) {
	if _, wan := query(r)["wan"]; wan {
		// Client agents are in no WAN pool: they list nobody, as in
		// Consul.
		out := []memberJSON{}
		if a.wan != nil {
			for _, m := range a.wan.Members() {
				out = append(out, toWANMemberJSON(m))
			}
		}
		return out, nil
	}
	members := a.lan.Members()
	out := make([]memberJSON, 0, len(members))
	for _, m := range members {
		out = append(out, toMemberJSON(m))
	}
	return out, nil
}

func (a *Agent) agentJoin(w http.ResponseWriter, r *http.Request) (any, error) {
	addr := r.PathValue("address")
	if addr == "" {
		return nil, badRequest("Missing address to join")
	}
	if _, wan := query(r)["wan"]; wan {
		if a.wan == nil {
			return nil, badRequest("Cannot join the WAN pool: this agent is not a server, or its WAN port is disabled")
		}
		if _, err := a.wan.Join([]string{addr}); err != nil {
			return nil, fmt.Errorf("join WAN %s: %w", addr, err)
		}
		return nil, nil
	}
	if _, err := a.lan.Join([]string{addr}); err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	return nil, nil
}

// agentLeave leaves gracefully, answers, then asks the process to exit.
func (a *Agent) agentLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := a.Leave(ctx); err != nil {
		return nil, err
	}
	a.requestExit()
	return nil, nil
}

func (a *Agent) agentForceLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	_, prune := query(r)["prune"]
	if _, wan := query(r)["wan"]; wan {
		if a.wan == nil {
			return nil, badRequest("Cannot force-leave a WAN member: this agent is not a server, or its WAN port is disabled")
		}
		if err := a.wan.ForceLeave(r.PathValue("node"), prune); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err := a.lan.ForceLeave(r.PathValue("node"), prune); err != nil {
		return nil, err
	}
	return nil, nil
}

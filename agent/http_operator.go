package agent

import (
	"net/http"
	"strconv"
	"time"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

// autopilotConfigJSON is Consul's AutopilotConfiguration.
type autopilotConfigJSON struct {
	CleanupDeadServers      bool
	LastContactThreshold    duration
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime duration
	RedundancyZoneTag       string
	DisableUpgradeMigration bool
	UpgradeVersionTag       string
	CreateIndex             uint64
	ModifyIndex             uint64
}

func toAutopilotConfigJSON(c *pb.AutopilotConfig) autopilotConfigJSON {
	return autopilotConfigJSON{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: duration(c.LastContactThresholdNanos),
		MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: uint(c.MinQuorum),
		ServerStabilizationTime: duration(c.ServerStabilizationTimeNanos), RedundancyZoneTag: c.RedundancyZoneTag,
		DisableUpgradeMigration: c.DisableUpgradeMigration, UpgradeVersionTag: c.UpgradeVersionTag,
		CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
	}
}

func (a *Agent) autopilotGetConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.AutopilotConfigResponse
	if err := a.backend.RPC(r.Context(), dc.MethodAutopilotGetConfig, &pb.AutopilotConfigRequest{Query: q}, &resp); err != nil {
		return nil, err
	}
	setMeta(w, resp.Meta)
	return toAutopilotConfigJSON(resp.GetConfig()), nil
}

// autopilotSetConfig answers true, or with ?cas=N whether the write applied.
func (a *Agent) autopilotSetConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var in autopilotConfigJSON
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	if in.LastContactThreshold < 0 || in.ServerStabilizationTime < 0 {
		return nil, badRequest("LastContactThreshold and ServerStabilizationTime must not be negative")
	}
	req := &pb.AutopilotSetConfigRequest{Write: wo, Config: &pb.AutopilotConfig{
		CleanupDeadServers: in.CleanupDeadServers, LastContactThresholdNanos: int64(in.LastContactThreshold),
		MaxTrailingLogs: in.MaxTrailingLogs, MinQuorum: uint32(in.MinQuorum),
		ServerStabilizationTimeNanos: int64(in.ServerStabilizationTime), RedundancyZoneTag: in.RedundancyZoneTag,
		DisableUpgradeMigration: in.DisableUpgradeMigration, UpgradeVersionTag: in.UpgradeVersionTag,
	}}
	if v := query(r).Get("cas"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest("Error parsing cas value: %v", err)
		}
		req.Cas, req.Config.ModifyIndex = true, idx
	}
	var resp pb.AutopilotSetConfigResponse
	if err := a.backend.RPC(r.Context(), dc.MethodAutopilotSetConfig, req, &resp); err != nil {
		return nil, err
	}
	return resp.Ok, nil
}

// serverHealthJSON is Consul's ServerHealth.
type serverHealthJSON struct {
	ID          string
	Name        string
	Address     string
	SerfStatus  string
	Version     string
	Leader      bool
	LastContact string
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	Voter       bool
	StableSince time.Time
}

type operatorHealthJSON struct {
	Healthy          bool
	FailureTolerance int
	Servers          []serverHealthJSON
}

// autopilotServerJSON is Consul's AutopilotServer (the state endpoint).
type autopilotServerJSON struct {
	ID          string
	Name        string
	Address     string
	NodeStatus  string
	Version     string
	LastContact string
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	StableSince time.Time
	ReadReplica bool
	Status      string
	Meta        map[string]string
	NodeType    string
}

type autopilotStateJSON struct {
	Healthy                    bool
	FailureTolerance           int
	OptimisticFailureTolerance int
	Servers                    map[string]autopilotServerJSON
	Leader                     string
	Voters                     []string
}

// lastContactText renders a last contact as Consul does, a duration
// ("-1ns" for a server that never answered this leader).
func lastContactText(ns int64) string {
	return time.Duration(ns).String()
}

func (a *Agent) autopilotState(r *http.Request) (*pb.AutopilotStateResponse, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var st pb.AutopilotStateResponse
	if err := a.backend.RPC(r.Context(), dc.MethodAutopilotState, &pb.AutopilotStateRequest{Query: q}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// autopilotHealth answers 200 when every server is healthy and 429 (with
// the same body) when one is not, as Consul does.
func (a *Agent) autopilotHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	st, err := a.autopilotState(r)
	if err != nil {
		return nil, err
	}
	out := operatorHealthJSON{Healthy: st.Healthy, FailureTolerance: int(st.FailureTolerance), Servers: []serverHealthJSON{}}
	for _, s := range st.Servers {
		out.Servers = append(out.Servers, serverHealthJSON{
			ID: s.Id, Name: s.Name, Address: s.Address, SerfStatus: s.SerfStatus, Version: s.Version, Leader: s.Leader,
			LastContact: lastContactText(s.LastContactNanos), LastTerm: s.LastTerm, LastIndex: s.LastIndex,
			Healthy: s.Healthy, Voter: s.Voter, StableSince: time.Unix(0, s.StableSinceUnixNano).UTC(),
		})
	}
	code := http.StatusOK
	if !st.Healthy {
		code = http.StatusTooManyRequests
	}
	writeJSON(w, r, code, out)
	return nil, nil
}

func (a *Agent) autopilotStateHandler(w http.ResponseWriter, r *http.Request) (any, error) {
	st, err := a.autopilotState(r)
	if err != nil {
		return nil, err
	}
	out := autopilotStateJSON{
		Healthy: st.Healthy, FailureTolerance: int(st.FailureTolerance),
		OptimisticFailureTolerance: int(st.OptimisticFailureTolerance), Leader: st.Leader,
		Servers: map[string]autopilotServerJSON{}, Voters: []string{},
	}
	for _, s := range st.Servers {
		status := "non-voter"
		switch {
		case s.Leader:
			status = "leader"
		case s.Voter:
			status = "voter"
		}
		if s.Voter {
			out.Voters = append(out.Voters, s.Id)
		}
		out.Servers[s.Id] = autopilotServerJSON{
			ID: s.Id, Name: s.Name, Address: s.Address, NodeStatus: s.SerfStatus, Version: s.Version,
			LastContact: lastContactText(s.LastContactNanos), LastTerm: s.LastTerm, LastIndex: s.LastIndex,
			Healthy: s.Healthy, StableSince: time.Unix(0, s.StableSinceUnixNano).UTC(), Status: status,
			Meta: map[string]string{}, NodeType: "voter",
		}
	}
	return out, nil
}

type transferLeaderJSON struct {
	Success bool
}

func (a *Agent) raftTransferLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.RaftTransferLeaderResponse
	req := &pb.RaftTransferLeaderRequest{Write: wo, Id: query(r).Get("id")}
	if err := a.backend.RPC(r.Context(), dc.MethodRaftTransferLeader, req, &resp); err != nil {
		return nil, err
	}
	return transferLeaderJSON{Success: resp.Success}, nil
}

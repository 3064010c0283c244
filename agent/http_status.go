package agent

import (
	"net/http"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
)

func (a *Agent) statusLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	dcName := query(r).Get("dc")
	if err := a.checkDC(dcName); err != nil {
		return nil, err
	}
	var resp pb.StatusLeaderResponse
	if err := a.backend.RPC(r.Context(), dc.MethodStatusLeader, &pb.StatusRequest{Dc: dcName}, &resp); err != nil {
		return nil, err
	}
	return resp.Address, nil
}

func (a *Agent) statusPeers(w http.ResponseWriter, r *http.Request) (any, error) {
	dcName := query(r).Get("dc")
	if err := a.checkDC(dcName); err != nil {
		return nil, err
	}
	var resp pb.StatusPeersResponse
	if err := a.backend.RPC(r.Context(), dc.MethodStatusPeers, &pb.StatusRequest{Dc: dcName}, &resp); err != nil {
		return nil, err
	}
	if resp.Addresses == nil {
		return []string{}, nil
	}
	return resp.Addresses, nil
}

type raftServerJSON struct {
	ID              string
	Node            string
	Address         string
	Leader          bool
	Voter           bool
	ProtocolVersion string
}

type raftConfigurationJSON struct {
	Servers []raftServerJSON
	Index   uint64
}

func (a *Agent) raftConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := a.parseQueryOptions(r)
	if err != nil {
		return nil, err
	}
	var resp pb.RaftConfigurationResponse
	if err := a.backend.RPC(r.Context(), dc.MethodRaftConfiguration, &pb.RaftConfigurationRequest{Query: q}, &resp); err != nil {
		return nil, err
	}
	out := raftConfigurationJSON{Servers: []raftServerJSON{}, Index: resp.Index}
	for _, s := range resp.Servers {
		out.Servers = append(out.Servers, raftServerJSON{
			ID: s.Id, Node: s.Node, Address: s.Address, Leader: s.Leader, Voter: s.Voter, ProtocolVersion: s.ProtocolVersion,
		})
	}
	return out, nil
}

func (a *Agent) raftRemovePeer(w http.ResponseWriter, r *http.Request) (any, error) {
	wo, err := a.writeOptions(r)
	if err != nil {
		return nil, err
	}
	params := query(r)
	req := &pb.RaftRemovePeerRequest{Write: wo, Id: params.Get("id"), Address: params.Get("address")}
	if (req.Id == "") == (req.Address == "") {
		return nil, badRequest("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
	}
	if err := a.backend.RPC(r.Context(), dc.MethodRaftRemovePeer, req, &pb.RaftRemovePeerResponse{}); err != nil {
		return nil, err
	}
	return nil, nil
}

// agentVersion is GET /v1/agent/version: the build, in Consul's fields.
func (a *Agent) agentVersion(w http.ResponseWriter, r *http.Request) (any, error) {
	return map[string]string{"SHA": Revision, "BuildDate": "", "HumanVersion": Version, "FIPS": ""}, nil
}

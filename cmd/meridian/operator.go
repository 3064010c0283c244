package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/hashicorp/consul/api"
)

func operatorCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"raft":      {"Provides cluster-level tools for the Raft quorum", runOperatorRaft},
		"autopilot": {"Provides tools for Autopilot: health and dead-server cleanup", runOperatorAutopilot},
	}
}

func operatorRaftCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"list-peers":      {"Display the current Raft peer configuration", runRaftListPeers},
		"remove-peer":     {"Remove a server from the Raft configuration", runRaftRemovePeer},
		"transfer-leader": {"Transfer Raft leadership to another server", runRaftTransferLeader},
	}
}

func runOperator(e *cmdEnv, args []string) int {
	return e.dispatch("meridian operator", operatorCommands(), args)
}

func runOperatorRaft(e *cmdEnv, args []string) int {
	return e.dispatch("meridian operator raft", operatorRaftCommands(), args)
}

const raftListPeersHelp = `Usage: meridian operator raft list-peers [options]

  Displays the Raft configuration of the datacenter: every server, whether
  it leads, and whether it votes. -stale lets any server answer, which works
  without a leader.`

func runRaftListPeers(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("operator raft list-peers")
	h.register(fs, true)
	if code, ok := e.parse(fs, raftListPeersHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("operator raft list-peers", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	conf, err := client.Operator().RaftGetConfiguration(client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error getting peers: %v", err)
	}
	writeRaftPeers(e.stdout, conf.Servers)
	return exitOK
}

// writeRaftPeers prints the list-peers table in the order the server sent.
func writeRaftPeers(w io.Writer, servers []*api.RaftServer) {
	t := newTextTable(w, 2)
	t.row("Node", "ID", "Address", "State", "Voter", "RaftProtocol")
	for _, s := range servers {
		state := "follower"
		if s.Leader {
			state = "leader"
		}
		protocol := s.ProtocolVersion
		if protocol == "" {
			protocol = "<=1"
		}
		t.row(s.Node, s.ID, s.Address, state, strconv.FormatBool(s.Voter), protocol)
	}
	t.flush()
}

const raftRemovePeerHelp = `Usage: meridian operator raft remove-peer [options] -address=IP:PORT | -id=ID

  Removes a server from the Raft configuration. Use it only for a server
  that is gone for good but was left behind in the quorum; a server still
  listed by "meridian members" is better removed with "meridian force-leave".`

func runRaftRemovePeer(e *cmdEnv, args []string) int {
	var (
		h       httpFlags
		address string
		id      string
	)
	fs := e.newFlagSet("operator raft remove-peer")
	h.register(fs, false)
	fs.StringVar(&address, "address", "", "Raft address (ip:port) of the server to remove.")
	fs.StringVar(&id, "id", "", "Raft ID of the server to remove.")
	if code, ok := e.parse(fs, raftRemovePeerHelp, args); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return e.usageError("operator raft remove-peer", "Too many arguments (expected 0, got %d)", fs.NArg())
	case address == "" && id == "":
		return e.usageError("operator raft remove-peer", "Error removing peer: an address or id is required for the peer to remove")
	case address != "" && id != "":
		return e.usageError("operator raft remove-peer", "Error removing peer: cannot give both an address and id")
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	if address != "" {
		err = client.Operator().RaftRemovePeerByAddress(address, client.write(e.ctx))
	} else {
		err = client.Operator().RaftRemovePeerByID(id, client.write(e.ctx))
	}
	if err != nil {
		return e.fail(exitError, "Error removing peer: %v", err)
	}
	if address != "" {
		fmt.Fprintf(e.stdout, "Removed peer with address %q\n", address)
	} else {
		fmt.Fprintf(e.stdout, "Removed peer with id %q\n", id)
	}
	return exitOK
}

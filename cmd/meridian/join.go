package main

import (
	"fmt"

	"github.com/hashicorp/consul/api"
)

const joinHelp = `Usage: meridian join [options] ADDRESS...

  Tells the local agent to join a cluster by contacting at least one of its
  existing members (serf LAN port, or with -wan a server's serf WAN port).`

func runJoin(e *cmdEnv, args []string) int {
	var (
		h   httpFlags
		wan bool
	)
	fs := e.newFlagSet("join")
	h.register(fs, false)
	fs.BoolVar(&wan, "wan", false, "Join the WAN pool of servers instead of the LAN pool (servers only).")
	if code, ok := e.parse(fs, joinHelp, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return e.usageError("join", "At least one address to join must be specified.")
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	joined := 0
	for _, addr := range fs.Args() {
		if err := client.Agent().Join(addr, wan); err != nil {
			e.fail(exitError, "Error joining address '%s': %v", addr, err)
			continue
		}
		joined++
	}
	if joined == 0 {
		return e.fail(exitError, "Failed to join any nodes.")
	}
	fmt.Fprintf(e.stdout, "Successfully joined cluster by contacting %d nodes.\n", joined)
	return exitOK
}

const leaveHelp = `Usage: meridian leave [options]

  Makes the local agent leave the cluster gracefully and shut down. A server
  also leaves the Raft configuration of its datacenter.`

func runLeave(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("leave")
	h.register(fs, false)
	if code, ok := e.parse(fs, leaveHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("leave", "Error found unexpected args: %v", fs.Args())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	if err := client.Agent().Leave(); err != nil {
		return e.fail(exitError, "Error leaving: %v", err)
	}
	fmt.Fprintln(e.stdout, "Graceful leave complete")
	return exitOK
}

const forceLeaveHelp = `Usage: meridian force-leave [options] NODE

  Forces a failed member of the cluster into the "left" state so the others
  stop trying to reconnect to it. A member that is actually alive rejoins.
  -prune also removes it from the member list at once.`

func runForceLeave(e *cmdEnv, args []string) int {
	var (
		h     httpFlags
		prune bool
		wan   bool
	)
	fs := e.newFlagSet("force-leave")
	h.register(fs, false)
	fs.BoolVar(&prune, "prune", false, "Remove the member from the member list entirely.")
	fs.BoolVar(&wan, "wan", false, "Act on the WAN pool (member name <node>.<dc>) instead of the LAN pool.")
	if code, ok := e.parse(fs, forceLeaveHelp, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return e.usageError("force-leave", "A single node name must be specified to force leave.")
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	if err := client.Agent().ForceLeaveOpts(fs.Arg(0), api.ForceLeaveOpts{Prune: prune, WAN: wan}); err != nil {
		return e.fail(exitError, "Error force leaving: %v", err)
	}
	return exitOK
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"
)

func operatorAutopilotCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"get-config": {"Display the current Autopilot configuration", runAutopilotGetConfig},
		"set-config": {"Modify the current Autopilot configuration", runAutopilotSetConfig},
		"state":      {"Display the current Autopilot state", runAutopilotState},
	}
}

func runOperatorAutopilot(e *cmdEnv, args []string) int {
	return e.dispatch("meridian operator autopilot", operatorAutopilotCommands(), args)
}

const autopilotGetConfigHelp = `Usage: meridian operator autopilot get-config [options]

  Displays the Autopilot configuration in force: the one stored through
  set-config, or the servers' autopilot block until one is.`

func runAutopilotGetConfig(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("operator autopilot get-config")
	h.register(fs, true)
	if code, ok := e.parse(fs, autopilotGetConfigHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("operator autopilot get-config", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	c, err := client.Operator().AutopilotGetConfiguration(client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying Autopilot configuration: %v", err)
	}
	fmt.Fprintf(e.stdout, "CleanupDeadServers = %v\n", c.CleanupDeadServers)
	fmt.Fprintf(e.stdout, "LastContactThreshold = %v\n", c.LastContactThreshold.Duration())
	fmt.Fprintf(e.stdout, "MaxTrailingLogs = %v\n", c.MaxTrailingLogs)
	fmt.Fprintf(e.stdout, "MinQuorum = %v\n", c.MinQuorum)
	fmt.Fprintf(e.stdout, "ServerStabilizationTime = %v\n", c.ServerStabilizationTime.Duration())
	fmt.Fprintf(e.stdout, "RedundancyZoneTag = %q\n", c.RedundancyZoneTag)
	fmt.Fprintf(e.stdout, "DisableUpgradeMigration = %v\n", c.DisableUpgradeMigration)
	fmt.Fprintf(e.stdout, "UpgradeVersionTag = %q\n", c.UpgradeVersionTag)
	return exitOK
}

const autopilotSetConfigHelp = `Usage: meridian operator autopilot set-config [options]

  Changes the Autopilot configuration: only the options given change, the
  others keep their current value. The write is a check-and-set over the
  configuration just read, so a concurrent change is not overwritten.`

func runAutopilotSetConfig(e *cmdEnv, args []string) int {
	var (
		h                         httpFlags
		cleanup, disableMigration bool
		maxTrailing, minQuorum    uint64
		lastContact, stabilize    time.Duration
		zoneTag, versionTag       string
	)
	fs := e.newFlagSet("operator autopilot set-config")
	h.register(fs, false)
	fs.BoolVar(&cleanup, "cleanup-dead-servers", false, "Remove servers that stay failed from the Raft configuration.")
	fs.Uint64Var(&maxTrailing, "max-trailing-logs", 0, "How many log entries a healthy server may be behind the leader.")
	fs.Uint64Var(&minQuorum, "min-quorum", 0, "The fewest voters dead-server cleanup leaves.")
	fs.DurationVar(&lastContact, "last-contact-threshold", 0, "Longest a healthy server may go without hearing from the leader.")
	fs.DurationVar(&stabilize, "server-stabilization-time", 0, "How long a server must stay failed before it is removed.")
	fs.StringVar(&zoneTag, "redundancy-zone-tag", "", "Kept for Consul's shape; not acted on.")
	fs.BoolVar(&disableMigration, "disable-upgrade-migration", false, "Kept for Consul's shape; not acted on.")
	fs.StringVar(&versionTag, "upgrade-version-tag", "", "Kept for Consul's shape; not acted on.")
	if code, ok := e.parse(fs, autopilotSetConfigHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("operator autopilot set-config", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	if lastContact < 0 || stabilize < 0 {
		return e.usageError("operator autopilot set-config", "durations must not be negative")
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	op := client.Operator()
	conf, err := op.AutopilotGetConfiguration((&api.QueryOptions{}).WithContext(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying Autopilot configuration: %v", err)
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "cleanup-dead-servers":
			conf.CleanupDeadServers = cleanup
		case "max-trailing-logs":
			conf.MaxTrailingLogs = maxTrailing
		case "min-quorum":
			conf.MinQuorum = uint(minQuorum)
		case "last-contact-threshold":
			conf.LastContactThreshold = api.NewReadableDuration(lastContact)
		case "server-stabilization-time":
			conf.ServerStabilizationTime = api.NewReadableDuration(stabilize)
		case "redundancy-zone-tag":
			conf.RedundancyZoneTag = zoneTag
		case "disable-upgrade-migration":
			conf.DisableUpgradeMigration = disableMigration
		case "upgrade-version-tag":
			conf.UpgradeVersionTag = versionTag
		}
	})
	ok, err := op.AutopilotCASConfiguration(conf, client.write(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error setting Autopilot configuration: %v", err)
	}
	if !ok {
		return e.fail(exitError, "Configuration could not be atomically updated, please try again")
	}
	fmt.Fprintln(e.stdout, "Configuration updated!")
	return exitOK
}

const autopilotStateHelp = `Usage: meridian operator autopilot state [options]

  Displays the leader's Autopilot state: whether every server is healthy,
  how many failures the datacenter tolerates, and each server's health.
  -format=json prints it as the HTTP API answers.`

func runAutopilotState(e *cmdEnv, args []string) int {
	var (
		h      httpFlags
		format string
	)
	fs := e.newFlagSet("operator autopilot state")
	h.register(fs, true)
	fs.StringVar(&format, "format", "pretty", "Output format: pretty or json.")
	if code, ok := e.parse(fs, autopilotStateHelp, args); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return e.usageError("operator autopilot state", "Too many arguments (expected 0, got %d)", fs.NArg())
	case format != "pretty" && format != "json":
		return e.usageError("operator autopilot state", "Invalid format %q: pretty or json", format)
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	st, err := client.Operator().AutopilotState(client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error querying Autopilot state: %v", err)
	}
	if format == "json" {
		b, err := json.MarshalIndent(st, "", "   ")
		if err != nil {
			return e.fail(exitError, "Error encoding Autopilot state: %v", err)
		}
		fmt.Fprintln(e.stdout, string(b))
		return exitOK
	}
	t := newTextTable(e.stdout, 1)
	t.row("Healthy:", strconv.FormatBool(st.Healthy))
	t.row("Failure Tolerance:", strconv.Itoa(st.FailureTolerance))
	t.row("Optimistic Failure Tolerance:", strconv.Itoa(st.OptimisticFailureTolerance))
	t.row("Leader:", st.Leader)
	t.flush()
	fmt.Fprintln(e.stdout, "Voters:")
	for _, v := range st.Voters {
		fmt.Fprintf(e.stdout, "   %s\n", v)
	}
	fmt.Fprintln(e.stdout, "\nServers:")
	ids := make([]string, 0, len(st.Servers))
	for id := range st.Servers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := st.Servers[id]
		fmt.Fprintf(e.stdout, "   %s\n", id)
		t := newTextTable(e.stdout, 1)
		for _, kv := range [][2]string{
			{"Name:", s.Name}, {"Address:", s.Address}, {"Version:", s.Version}, {"Status:", string(s.Status)},
			{"Node Status:", s.NodeStatus}, {"Healthy:", strconv.FormatBool(s.Healthy)},
			{"Last Contact:", s.LastContact.String()}, {"Last Term:", strconv.FormatUint(s.LastTerm, 10)},
			{"Last Index:", strconv.FormatUint(s.LastIndex, 10)},
		} {
			t.row("      "+kv[0], kv[1])
		}
		t.flush()
	}
	return exitOK
}

const raftTransferLeaderHelp = `Usage: meridian operator raft transfer-leader [options] [-id=ID]

  Hands Raft leadership to the voter with the given ID, or without -id to
  the most up-to-date other voter, and waits for the handover.`

func runRaftTransferLeader(e *cmdEnv, args []string) int {
	var (
		h  httpFlags
		id string
	)
	fs := e.newFlagSet("operator raft transfer-leader")
	h.register(fs, false)
	fs.StringVar(&id, "id", "", "Raft ID of the server to hand leadership to.")
	if code, ok := e.parse(fs, raftTransferLeaderHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("operator raft transfer-leader", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	r, err := client.Operator().RaftLeaderTransfer(id, (&api.QueryOptions{}).WithContext(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error transferring leadership: %v", err)
	}
	if !r.Success {
		return e.fail(exitError, "Error transferring leadership: the leader did not hand over")
	}
	fmt.Fprintln(e.stdout, "Success")
	return exitOK
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes shared by every command.
const (
	exitOK    = 0 // success
	exitError = 1 // the operation failed (server error, CAS failed, unknown command)
	exitUsage = 2 // bad flags or arguments
)

// cliCommand is one entry of a command table: a top-level command or a
// subcommand of a group such as kv or operator raft.
type cliCommand struct {
	synopsis string
	run      func(e *cmdEnv, args []string) int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run executes the command line args (without the program name) and returns
// the process exit code. All I/O goes through stdin, stdout and stderr, and
// env replaces os.Getenv, so tests can run any command in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	if env == nil {
		env = func(string) string { return "" }
	}
	e := &cmdEnv{
		ctx:    context.Background(),
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		getenv: env,
	}
	if len(args) > 0 {
		switch args[0] {
		case "-v", "-version", "--version":
			writeVersion(stdout)
			return exitOK
		}
	}
	return e.dispatch("meridian", topLevelCommands(), args)
}

// topLevelCommands is a function rather than a package variable so the
// tables may refer back to dispatch without an initialization cycle.
func topLevelCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"acl": {"Interact with Meridian's ACLs", runACL},
		"agent": {"Runs a Meridian agent", func(_ *cmdEnv, args []string) int {
			return runAgent(args)
		}},
		"dev":         {"Runs a local federation of datacenters in one process", runDev},
		"debug":       {"Records a debugging archive for operators", runDebug},
		"services":    {"Registers and deregisters services with the local agent", runServices},
		"catalog":     {"Interact with the catalog", runCatalog},
		"event":       {"Fire a new event", runEvent},
		"maint":       {"Controls node or service maintenance mode", runMaint},
		"force-leave": {"Forces a member of the cluster to enter the \"left\" state", runForceLeave},
		"info":        {"Provides debugging information for operators", runInfo},
		"join":        {"Tell the Meridian agent to join a cluster", runJoin},
		"keygen":      {"Generates a new encryption key", runKeygen},
		"keyring":     {"Manages gossip layer encryption keys", runKeyring},
		"kv":          {"Interact with the key-value store", runKV},
		"leave":       {"Gracefully leaves the cluster and shuts down", runLeave},
		"lock":        {"Execute a command holding a lock", runLock},
		"members":     {"Lists the members of a Meridian cluster", runMembers},
		"monitor":     {"Streams the local agent's logs", runMonitor},
		"operator":    {"Provides cluster-level tools for Meridian operators", runOperator},
		"reload":      {"Triggers the agent to reload configuration files", runReload},
		"rtt":         {"Estimates network round trip time between nodes", runRTT},
		"snapshot":    {"Saves, restores and inspects snapshots of the datacenter's state", runSnapshot},
		"tls":         {"Builtin helpers for creating CAs and certificates", runTLS},
		"validate":    {"Validates configuration files and directories", runValidate},
		"configtest":  {"Alias of validate (older Consul releases' name)", runValidate},
		"version":     {"Prints the Meridian version", runVersion},
		"watch":       {"Watch for changes in Meridian", runWatch},
	}
}

// dispatch runs the subcommand named by args[0] from table. name is the
// command path so far ("meridian", "meridian kv", ...). No subcommand or an
// unknown one prints the usage on stderr and exits 1; -h, -help, --help and
// help print it on stdout and exit 0.
func (e *cmdEnv) dispatch(name string, table map[string]cliCommand, args []string) int {
	if len(args) == 0 {
		writeTableUsage(e.stderr, name, table)
		return exitError
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		writeTableUsage(e.stdout, name, table)
		return exitOK
	}
	cmd, ok := table[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "Unknown command: %q\n\n", strings.Join(append(strings.Fields(name)[1:], args[0]), " "))
		writeTableUsage(e.stderr, name, table)
		return exitError
	}
	return cmd.run(e, args[1:])
}

func writeTableUsage(w io.Writer, name string, table map[string]cliCommand) {
	names := make([]string, 0, len(table))
	width := 0
	for n := range table {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	if name == "meridian" {
		fmt.Fprintf(w, "Usage: meridian [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n")
	} else {
		fmt.Fprintf(w, "Usage: %s <subcommand> [options] [args]\n\nSubcommands:\n", name)
	}
	for _, n := range names {
		fmt.Fprintf(w, "    %-*s    %s\n", width, n, table[n].synopsis)
	}
}

package main

import (
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
)

// memberStatus names serf's numeric member status.
func memberStatus(s int) string {
	switch s {
	case 0:
		return "none"
	case 1:
		return "alive"
	case 2:
		return "leaving"
	case 3:
		return "left"
	case 4:
		return "failed"
	default:
		return "unknown"
	}
}

// memberType reads the role tag: Consul's "consul"/"node", and Meridian's
// own "server"/"client".
func memberType(tags map[string]string) string {
	switch tags["role"] {
	case "consul", "server":
		return "server"
	case "node", "client":
		return "client"
	default:
		return "unknown"
	}
}

const membersHelp = `Usage: meridian members [options]

  Lists the members of the gossip pool the local agent sees: the LAN pool
  of its datacenter, or with -wan the servers of every datacenter.
  Exits 2 without output when no member matches -status.`

func runMembers(e *cmdEnv, args []string) int {
	var (
		h        httpFlags
		detailed bool
		wan      bool
		status   string
	)
	fs := e.newFlagSet("members")
	h.register(fs, false)
	fs.BoolVar(&detailed, "detailed", false, "Print every member's tags instead of the summary columns.")
	fs.BoolVar(&wan, "wan", false, "List the WAN pool (servers of all datacenters) instead of the LAN pool.")
	fs.StringVar(&status, "status", ".*", "Only list members whose status (alive, leaving, left, failed) matches this regular expression.")
	if code, ok := e.parse(fs, membersHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("members", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	statusRE, err := regexp.Compile(status)
	if err != nil {
		return e.usageError("members", "Failed to compile status regexp: %v", err)
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	members, err := client.Agent().Members(wan)
	if err != nil {
		return e.fail(exitError, "Error retrieving members: %v", err)
	}
	kept := members[:0]
	for _, m := range members {
		if statusRE.MatchString(memberStatus(m.Status)) {
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		// Consul's habit, relied on by scripts: nothing matched is exit 2.
		return exitUsage
	}
	sortMembers(kept)
	if detailed {
		writeMembersDetailed(e.stdout, kept)
	} else {
		writeMembers(e.stdout, kept)
	}
	return exitOK
}

// sortMembers puts servers first, then orders by name.
func sortMembers(ms []*api.AgentMember) {
	sort.SliceStable(ms, func(i, j int) bool {
		si, sj := memberType(ms[i].Tags) == "server", memberType(ms[j].Tags) == "server"
		if si != sj {
			return si
		}
		return ms[i].Name < ms[j].Name
	})
}

func memberAddr(m *api.AgentMember) string {
	return net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
}

// writeMembers prints the summary table of `meridian members`.
func writeMembers(w io.Writer, ms []*api.AgentMember) {
	t := newTextTable(w, 2)
	t.row("Node", "Address", "Status", "Type", "Build", "Protocol", "DC")
	for _, m := range ms {
		typ := memberType(m.Tags)
		build, protocol, dc := "", "", ""
		if typ != "unknown" {
			build, _, _ = strings.Cut(m.Tags["build"], ":")
			protocol, dc = m.Tags["vsn"], m.Tags["dc"]
		}
		t.row(m.Name, memberAddr(m), memberStatus(m.Status), typ, build, protocol, dc)
	}
	t.flush()
}

// writeMembersDetailed prints `meridian members -detailed`: every tag as
// k=v, sorted by key.
func writeMembersDetailed(w io.Writer, ms []*api.AgentMember) {
	t := newTextTable(w, 2)
	t.row("Node", "Address", "Status", "Tags")
	for _, m := range ms {
		t.row(m.Name, memberAddr(m), memberStatus(m.Status), joinSorted(m.Tags, ","))
	}
	t.flush()
}

// joinSorted renders m as k=v pairs sorted by key, joined by sep.
func joinSorted(m map[string]string, sep string) string {
	keys := keysSorted(m)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + m[k]
	}
	return strings.Join(pairs, sep)
}

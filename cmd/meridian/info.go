package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

const infoHelp = `Usage: meridian info [options]

  Prints the local agent's debugging statistics, one section per subsystem
  (agent, raft, serf_lan, serf_wan, ...), keys sorted.`

func runInfo(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("info")
	h.register(fs, false)
	if code, ok := e.parse(fs, infoHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("info", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	self, err := client.Agent().Self()
	if err != nil {
		return e.fail(exitError, "Error querying agent: %v", err)
	}
	stats, ok := self["Stats"]
	if !ok || stats == nil {
		return e.fail(exitError, "Error querying agent: response did not contain 'Stats'")
	}
	for _, section := range keysSorted(stats) {
		fmt.Fprintf(e.stdout, "%s:\n", section)
		values, _ := stats[section].(map[string]any)
		for _, k := range keysSorted(values) {
			fmt.Fprintf(e.stdout, "\t%s = %s\n", k, statValue(values[k]))
		}
	}
	return exitOK
}

// statValue prints a stat as Consul does: strings unquoted, numbers
// without an exponent, anything else as JSON.
func statValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func keysSorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

const reloadHelp = `Usage: meridian reload [options]

  Makes the local agent reload its configuration files, like SIGHUP.`

func runReload(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("reload")
	h.register(fs, false)
	if code, ok := e.parse(fs, reloadHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("reload", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	if err := client.Agent().Reload(); err != nil {
		return e.fail(exitError, "Error reloading: %v", err)
	}
	fmt.Fprintln(e.stdout, "Configuration reload triggered")
	return exitOK
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
)

const maintHelp = `Usage: meridian maint [options]

  Puts the local node, or one of its services, into maintenance mode, or
  takes it out again. While in maintenance the node or service has a
  critical check (_node_maintenance, _service_maintenance:<id>), so DNS
  and health queries for passing instances leave it out. The mode is kept
  across agent restarts until it is disabled.

  Without -enable or -disable, lists what is in maintenance on this agent
  (nothing when nothing is).

      $ meridian maint -enable -reason="kernel upgrade"
      $ meridian maint -enable -service=web-1
      $ meridian maint -disable -service=web-1`

// Maintenance check IDs, as the agent registers them.
const (
	maintNodeCheckID        = "_node_maintenance"
	maintServiceCheckPrefix = "_service_maintenance:"
)

func runMaint(e *cmdEnv, args []string) int {
	var (
		h                       httpFlags
		enable, disable         bool
		reason, serviceID       string
		reasonSet, serviceIDSet bool
	)
	fs := e.newFlagSet("maint")
	h.register(fs, false)
	fs.BoolVar(&enable, "enable", false, "Enable maintenance mode (of the node, or of -service).")
	fs.BoolVar(&disable, "disable", false, "Disable maintenance mode (of the node, or of -service).")
	fs.StringVar(&reason, "reason", "", "Why, shown in the maintenance check's Notes (with -enable).")
	fs.StringVar(&serviceID, "service", "", "`ID` of the local service to act on instead of the node.")
	if code, ok := e.parse(fs, maintHelp, args); !ok {
		return code
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "reason":
			reasonSet = true
		case "service":
			serviceIDSet = true
		}
	})
	switch {
	case fs.NArg() > 0:
		return e.usageError("maint", "Too many arguments (expected 0, got %d)", fs.NArg())
	case enable && disable:
		return e.usageError("maint", "Only one of -enable or -disable may be provided")
	case reasonSet && !enable:
		return e.usageError("maint", "Reason may only be provided with -enable")
	case serviceIDSet && !enable && !disable:
		return e.usageError("maint", "Service requires either -enable or -disable")
	case serviceIDSet && serviceID == "":
		return e.usageError("maint", "-service needs a service ID")
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	if !enable && !disable {
		return e.maintList(client)
	}
	agent := client.Agent()
	opts := client.read(e.ctx) // the client's Opts calls take query options
	switch {
	case serviceID == "" && enable:
		err = agent.EnableNodeMaintenance(reason)
	case serviceID == "":
		err = agent.DisableNodeMaintenance()
	case enable:
		err = agent.EnableServiceMaintenanceOpts(serviceID, reason, opts)
	default:
		err = agent.DisableServiceMaintenanceOpts(serviceID, opts)
	}
	state := "enabled"
	if disable {
		state = "disabled"
	}
	if err != nil {
		var se api.StatusError
		if serviceID != "" && errors.As(err, &se) && se.Code == http.StatusNotFound {
			return e.fail(exitError, "Error: no service registered with ID %q on this agent", serviceID)
		}
		return e.fail(exitError, "Error: maintenance mode could not be %s: %v", state, err)
	}
	if serviceID == "" {
		fmt.Fprintf(e.stdout, "Node maintenance is now %s\n", state)
	} else {
		fmt.Fprintf(e.stdout, "Service maintenance is now %s for %q\n", state, serviceID)
	}
	return exitOK
}

// maintList prints the node's and its services' maintenance checks.
func (e *cmdEnv) maintList(client *agentClient) int {
	self, err := client.Agent().Self()
	if err != nil {
		return e.fail(exitError, "Error reading the agent: %v", err)
	}
	node, _ := self["Config"]["NodeName"].(string)
	checks, err := client.Agent().ChecksWithFilterOpts("", client.read(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error reading the agent's checks: %v", err)
	}
	ids := make([]string, 0, len(checks))
	for id := range checks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if c := checks[maintNodeCheckID]; c != nil {
		fmt.Fprintf(e.stdout, "Node:\n  Name:   %s\n  Reason: %s\n\n", node, c.Notes)
	}
	for _, id := range ids {
		if c := checks[id]; strings.HasPrefix(id, maintServiceCheckPrefix) {
			svc := c.ServiceID
			if svc == "" {
				svc = strings.TrimPrefix(id, maintServiceCheckPrefix)
			}
			fmt.Fprintf(e.stdout, "Service:\n  ID:     %s\n  Reason: %s\n\n", svc, c.Notes)
		}
	}
	return exitOK
}

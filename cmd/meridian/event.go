package main

import (
	"fmt"
	"regexp"

	"github.com/hashicorp/consul/api"
)

const eventHelp = `Usage: meridian event [options] [PAYLOAD]

  Dispatches a custom user event across the datacenter. The event is
  gossiped to every agent; those matching the -node, -service and -tag
  regular expressions deliver it to their event watches (see
  'meridian watch -type=event'). The optional PAYLOAD is opaque and must be
  small.

      $ meridian event -name=deploy -service=web v1.2.3`

func runEvent(e *cmdEnv, args []string) int {
	var (
		h                        httpFlags
		name, node, service, tag string
	)
	fs := e.newFlagSet("event")
	h.register(fs, false)
	fs.StringVar(&name, "name", "", "Name of the event (required).")
	fs.StringVar(&node, "node", "", "Regular expression to filter on node names.")
	fs.StringVar(&service, "service", "", "Regular expression to filter on service instances.")
	fs.StringVar(&tag, "tag", "", "Regular expression to filter on service tags. Must be used with -service.")
	if code, ok := e.parse(fs, eventHelp, args); !ok {
		return code
	}
	if name == "" {
		return e.usageError("event", "Event name must be specified")
	}
	for _, f := range []struct{ what, re string }{{"node", node}, {"service", service}, {"tag", tag}} {
		if _, err := regexp.Compile(f.re); err != nil {
			return e.usageError("event", "Failed to compile %s filter regexp: %v", f.what, err)
		}
	}
	if tag != "" && service == "" {
		return e.usageError("event", "Cannot provide tag filter without service filter.")
	}
	var payload []byte
	switch fs.NArg() {
	case 0:
	case 1:
		payload = []byte(fs.Arg(0))
	default:
		return e.usageError("event", "Too many arguments (expected at most 1, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	id, _, err := client.Event().Fire(&api.UserEvent{Name: name, Payload: payload,
		NodeFilter: node, ServiceFilter: service, TagFilter: tag}, client.write(e.ctx))
	if err != nil {
		return e.fail(exitError, "Error firing event: %v", err)
	}
	if id == "" {
		return e.fail(exitError, "Error firing event: the agent answered without an event ID")
	}
	fmt.Fprintf(e.stdout, "Event ID: %s\n", id)
	return exitOK
}

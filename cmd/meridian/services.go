package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/agent/config"
)

const servicesHelp = `Usage: meridian services <subcommand> [options]

Registers and deregisters services with the local agent, which runs their
checks and keeps the catalog in sync.

Subcommands:
  register     Register services from flags or a JSON/HCL file
  deregister   Deregister services by ID or by the IDs in a file`

func runServices(e *cmdEnv, args []string) int {
	return e.dispatch("services", map[string]cliCommand{
		"register":   {"Register services with the local agent", runServicesRegister},
		"deregister": {"Deregister services from the local agent", runServicesDeregister},
	}, args)
}

const servicesRegisterHelp = `Usage: meridian services register [options] [FILE...]

Registers a service from the flags, or every service ("service" or
"services" blocks, with their checks) of each JSON or HCL file.`

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runServicesRegister(e *cmdEnv, args []string) int {
	var (
		h                 httpFlags
		name, id, address string
		port              int
		tags, meta        multiFlag
	)
	fs := e.newFlagSet("services register")
	h.register(fs, false)
	fs.StringVar(&name, "name", "", "Name of the service to register (instead of a file).")
	fs.StringVar(&id, "id", "", "ID of the service; defaults to its name.")
	fs.StringVar(&address, "address", "", "Address of the service; defaults to the node's.")
	fs.IntVar(&port, "port", 0, "Port of the service.")
	fs.Var(&tags, "tag", "A tag of the service (repeatable).")
	fs.Var(&meta, "meta", "Metadata `key=value` of the service (repeatable).")
	if code, ok := e.parse(fs, servicesRegisterHelp, args); !ok {
		return code
	}
	var defs []config.ServiceDefinition
	switch {
	case name != "" && fs.NArg() > 0:
		return e.usageError("services register", "Give either -name or files, not both.")
	case name != "":
		sd := config.ServiceDefinition{ID: id, Name: name, Address: address, Port: port, Tags: tags}
		for _, kv := range meta {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return e.usageError("services register", "Invalid -meta %q: want key=value.", kv)
			}
			if sd.Meta == nil {
				sd.Meta = map[string]string{}
			}
			sd.Meta[k] = v
		}
		defs = append(defs, sd)
	case fs.NArg() == 0:
		return e.usageError("services register", "Give -name or at least one file.")
	default:
		for _, file := range fs.Args() {
			sds, err := config.ServicesFromFile(file)
			if err != nil {
				return e.fail(exitError, "Error reading %s: %v", file, err)
			}
			if len(sds) == 0 {
				return e.fail(exitError, "Error: %s defines no service", file)
			}
			defs = append(defs, sds...)
		}
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	for _, sd := range defs {
		if err := client.Agent().ServiceRegister(registration(sd)); err != nil {
			return e.fail(exitError, "Error registering service %q: %v", sd.Name, err)
		}
		fmt.Fprintf(e.stdout, "Registered service: %s\n", sd.Name)
	}
	return exitOK
}

// registration is the official client's registration of a service
// definition, durations as strings.
func registration(sd config.ServiceDefinition) *api.AgentServiceRegistration {
	reg := &api.AgentServiceRegistration{ID: sd.ID, Name: sd.Name, Address: sd.Address, Port: sd.Port,
		Tags: sd.Tags, Meta: sd.Meta, EnableTagOverride: sd.EnableTagOverride}
	if sd.Weights != nil {
		reg.Weights = &api.AgentWeights{Passing: sd.Weights.Passing, Warning: sd.Weights.Warning}
	}
	for _, c := range sd.Checks {
		reg.Checks = append(reg.Checks, &api.AgentServiceCheck{CheckID: c.ID, Name: c.Name, Notes: c.Notes,
			Status: c.Status, HTTP: c.HTTP, Header: c.Header, Method: c.Method, Body: c.Body,
			TLSSkipVerify: c.TLSSkipVerify, TLSServerName: c.TLSServerName, TCP: c.TCP, GRPC: c.GRPC,
			TCPUseTLS: c.TCPUseTLS, UDP: c.UDP, AliasService: c.AliasService, AliasNode: c.AliasNode,
			// consul/api has no DisableRedirects, and leaves a false
			// H2PingUseTLS out (the agent then takes TLS, Consul's
			// default): a file's disable_redirects and false are lost.
			H2PING: c.H2PING, H2PingUseTLS: c.H2PingUseTLS == nil || *c.H2PingUseTLS,
			GRPCUseTLS: c.GRPCUseTLS, Args: c.Args, SuccessBeforePassing: c.SuccessBeforePassing,
			FailuresBeforeCritical: c.FailuresBeforeCritical, FailuresBeforeWarning: c.FailuresBeforeWarning,
			Interval: durationString(c.Interval), Timeout: durationString(c.Timeout), TTL: durationString(c.TTL),
			DeregisterCriticalServiceAfter: durationString(c.DeregisterCriticalServiceAfter)})
	}
	return reg
}

// durationString is d as the API takes it, "" for none.
func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

const servicesDeregisterHelp = `Usage: meridian services deregister [options] [-id ID | FILE...]

Deregisters a service by ID, or every service defined in each file (by its
ID, or its name when it has none).`

func runServicesDeregister(e *cmdEnv, args []string) int {
	var (
		h  httpFlags
		id string
	)
	fs := e.newFlagSet("services deregister")
	h.register(fs, false)
	fs.StringVar(&id, "id", "", "ID of the service to deregister.")
	if code, ok := e.parse(fs, servicesDeregisterHelp, args); !ok {
		return code
	}
	var ids []string
	switch {
	case id != "" && fs.NArg() > 0:
		return e.usageError("services deregister", "Give either -id or files, not both.")
	case id != "":
		ids = []string{id}
	case fs.NArg() == 0:
		return e.usageError("services deregister", "Give -id or at least one file.")
	default:
		for _, file := range fs.Args() {
			sds, err := config.ServicesFromFile(file)
			if err != nil {
				return e.fail(exitError, "Error reading %s: %v", file, err)
			}
			for _, sd := range sds {
				if sd.ID != "" {
					ids = append(ids, sd.ID)
				} else {
					ids = append(ids, sd.Name)
				}
			}
		}
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()
	for _, sid := range ids {
		if err := client.Agent().ServiceDeregister(sid); err != nil {
			return e.fail(exitError, "Error deregistering service %q: %v", sid, err)
		}
		fmt.Fprintf(e.stdout, "Deregistered service: %s\n", sid)
	}
	return exitOK
}

var _ flag.Value = (*multiFlag)(nil)

package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
)

func catalogCommands() map[string]cliCommand {
	return map[string]cliCommand{
		"datacenters": {"Lists all known datacenters", runCatalogDatacenters},
		"nodes":       {"Lists all nodes in the given datacenter", runCatalogNodes},
		"services":    {"Lists all registered services in a datacenter", runCatalogServices},
	}
}

func runCatalog(e *cmdEnv, args []string) int {
	return e.dispatch("meridian catalog", catalogCommands(), args)
}

// nodeMetaFlag collects repeated -node-meta key:value (or key=value) filters.
type nodeMetaFlag []string

func (f *nodeMetaFlag) String() string { return strings.Join(*f, ",") }

func (f *nodeMetaFlag) Set(v string) error {
	i := strings.IndexAny(v, ":=")
	if i <= 0 {
		return fmt.Errorf("%q is not key:value", v)
	}
	*f = append(*f, v[:i]+":"+v[i+1:])
	return nil
}

// addTo adds the filters to q (the API's repeated node-meta=k:v); a key
// given twice keeps its last value.
func (f nodeMetaFlag) addTo(q *api.QueryOptions) {
	for _, kv := range f {
		k, v, _ := strings.Cut(kv, ":")
		if q.NodeMeta == nil {
			q.NodeMeta = map[string]string{}
		}
		q.NodeMeta[k] = v
	}
}

const catalogDatacentersHelp = `Usage: meridian catalog datacenters [options]

  Lists every known datacenter, nearest first by the median round-trip time
  from this datacenter's servers.`

func runCatalogDatacenters(e *cmdEnv, args []string) int {
	var h httpFlags
	fs := e.newFlagSet("catalog datacenters")
	h.register(fs, true)
	if code, ok := e.parse(fs, catalogDatacentersHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("catalog datacenters", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	dcs, err := client.Catalog().Datacenters()
	if err != nil {
		return e.fail(exitError, "Error listing datacenters: %v", err)
	}
	for _, dc := range dcs {
		fmt.Fprintln(e.stdout, dc)
	}
	return exitOK
}

const catalogNodesHelp = `Usage: meridian catalog nodes [options]

  Lists the nodes registered in the datacenter (the agent's by default).

      $ meridian catalog nodes
      $ meridian catalog nodes -detailed
      $ meridian catalog nodes -service=web
      $ meridian catalog nodes -node-meta=rack:r1`

func runCatalogNodes(e *cmdEnv, args []string) int {
	var (
		h        httpFlags
		service  string
		near     string
		detailed bool
		meta     nodeMetaFlag
	)
	fs := e.newFlagSet("catalog nodes")
	h.register(fs, true)
	fs.StringVar(&service, "service", "", "Only list nodes providing this service (name).")
	fs.StringVar(&near, "near", "", "Sort nodes by estimated round-trip time from this node (\"_agent\": the local agent).")
	fs.BoolVar(&detailed, "detailed", false, "Print full node IDs, tagged addresses and metadata.")
	fs.Var(&meta, "node-meta", "Only list nodes with this `key:value` metadata. Repeatable; all must match.")
	if code, ok := e.parse(fs, catalogNodesHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("catalog nodes", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	q := client.read(e.ctx)
	q.Near = near
	meta.addTo(q)
	var nodes []*api.Node
	if service != "" {
		instances, _, err := client.Catalog().Service(service, "", q)
		if err != nil {
			return e.fail(exitError, "Error listing nodes for service: %v", err)
		}
		for _, s := range instances {
			nodes = append(nodes, &api.Node{ID: s.ID, Node: s.Node, Address: s.Address,
				Datacenter: s.Datacenter, TaggedAddresses: s.TaggedAddresses, Meta: s.NodeMeta})
		}
	} else if nodes, _, err = client.Catalog().Nodes(q); err != nil {
		return e.fail(exitError, "Error listing nodes: %v", err)
	}
	if len(nodes) == 0 {
		fmt.Fprintln(e.stderr, "No nodes match the given query - try expanding your search.")
		return exitOK
	}
	writeCatalogNodes(e.stdout, nodes, detailed)
	return exitOK
}

// writeCatalogNodes prints the nodes table; without detailed the ID is cut
// to its first group.
func writeCatalogNodes(w io.Writer, nodes []*api.Node, detailed bool) {
	t := newTextTable(w, 2)
	if detailed {
		t.row("Node", "ID", "Address", "DC", "TaggedAddresses", "Meta")
	} else {
		t.row("Node", "ID", "Address", "DC")
	}
	for _, n := range nodes {
		if detailed {
			t.row(n.Node, n.ID, n.Address, n.Datacenter,
				joinSorted(n.TaggedAddresses, ", "), joinSorted(n.Meta, ", "))
			continue
		}
		id, _, _ := strings.Cut(n.ID, "-")
		t.row(n.Node, id, n.Address, n.Datacenter)
	}
	t.flush()
}

const catalogServicesHelp = `Usage: meridian catalog services [options]

  Lists the services registered in the datacenter (the agent's by default).

      $ meridian catalog services
      $ meridian catalog services -tags
      $ meridian catalog services -node=web-1
      $ meridian catalog services -dc '*'

  With -dc '*' it lists the services of every datacenter at once, each
  name once with the tags it has anywhere.`

func runCatalogServices(e *cmdEnv, args []string) int {
	var (
		h    httpFlags
		node string
		tags bool
		meta nodeMetaFlag
	)
	fs := e.newFlagSet("catalog services")
	h.register(fs, true)
	fs.StringVar(&node, "node", "", "Only list services running on this node (name).")
	fs.BoolVar(&tags, "tags", false, "Print each service's tags, comma-separated, beside it.")
	fs.Var(&meta, "node-meta", "Only list services on nodes with this `key:value` metadata. Repeatable.")
	if code, ok := e.parse(fs, catalogServicesHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("catalog services", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	client, err := h.client(e.getenv)
	if err != nil {
		return e.fail(exitUsage, "Error! %v", err)
	}
	defer client.close()

	q := client.read(e.ctx)
	meta.addTo(q)
	services := map[string][]string{}
	if node != "" {
		n, _, err := client.Catalog().Node(node, q)
		if err != nil {
			return e.fail(exitError, "Error listing services for node: %v", err)
		}
		if n != nil {
			for _, s := range n.Services {
				services[s.Service] = append(services[s.Service], s.Tags...)
			}
		}
	} else if services, _, err = client.Catalog().Services(q); err != nil {
		return e.fail(exitError, "Error listing services: %v", err)
	}
	if len(services) == 0 {
		fmt.Fprintln(e.stderr, "No services match the given query - try expanding your search.")
		return exitOK
	}
	writeCatalogServices(e.stdout, services, tags)
	return exitOK
}

// writeCatalogServices prints service names sorted, with their deduplicated
// sorted tags when withTags.
func writeCatalogServices(w io.Writer, services map[string][]string, withTags bool) {
	if !withTags {
		for _, name := range keysSorted(services) {
			fmt.Fprintln(w, name)
		}
		return
	}
	t := newTextTable(w, 6)
	for _, name := range keysSorted(services) {
		t.row(name, strings.Join(uniqueSorted(services[name]), ","))
	}
	t.flush()
}

func uniqueSorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	n := 0
	for i, s := range out {
		if i == 0 || s != out[n-1] {
			out[n] = s
			n++
		}
	}
	return out[:n]
}

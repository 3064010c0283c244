package agent

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/meridian-io/meridian/agent/ui"
	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// The /v1/internal/ui/ endpoints feed the web console's lists from one
// blocking read of the whole catalog (Catalog.Dump), so a page holds one
// request however many services it shows. Paths and field names follow
// Consul's endpoints of the same name; the Instances* counts are ours.

type serviceSummaryJSON struct {
	Name              string
	Datacenter        string
	Tags              []string
	Nodes             []string
	InstanceCount     int
	ChecksPassing     int
	ChecksWarning     int
	ChecksCritical    int
	InstancesPassing  int
	InstancesWarning  int
	InstancesCritical int
}

type nodeDumpJSON struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	Services        []agentServiceJSON
	Checks          []healthCheckJSON
	CreateIndex     uint64
	ModifyIndex     uint64
}

// catalogDump runs the blocking dump for a console request and sets the
// index headers.
func (a *Agent) catalogDump(w http.ResponseWriter, r *http.Request) (*pb.CatalogDumpResponse, string, error) {
	cq, err := a.catalogQuery(r)
	if err != nil {
		return nil, "", err
	}
	var resp pb.CatalogDumpResponse
	if err := a.backend.RPC(r.Context(), dc.MethodCatalogDump, &pb.CatalogDumpRequest{Q: cq}, &resp); err != nil {
		return nil, "", err
	}
	a.catalogQueryMeta(w, resp.Meta)
	dcName := cq.GetQuery().GetDc()
	if dcName == "" {
		dcName = a.cfg.Datacenter
	}
	return &resp, dcName, nil
}

// statusRank orders check statuses from best to worst; maintenance counts
// as critical, as it does for DNS and ?passing.
func statusRank(status string) int {
	switch status {
	case store.HealthPassing:
		return 0
	case store.HealthWarning:
		return 1
	}
	return 2
}

func instanceKey(node, serviceID string) string { return strings.ToLower(node) + "\x00" + serviceID }

func (a *Agent) uiServices(w http.ResponseWriter, r *http.Request) (any, error) {
	dump, dcName, err := a.catalogDump(w, r)
	if err != nil {
		return nil, err
	}
	nodeWorst := map[string]int{}     // node -> worst node-level check
	instWorst := map[string]int{}     // instance -> worst own check
	instChecks := map[string][3]int{} // instance -> own checks by rank
	nodeChecks := map[string][3]int{}
	for _, c := range dump.Checks {
		rank := statusRank(c.Status)
		if c.ServiceId == "" {
			node := strings.ToLower(c.Node)
			nodeWorst[node] = max(nodeWorst[node], rank)
			n := nodeChecks[node]
			n[rank]++
			nodeChecks[node] = n
			continue
		}
		k := instanceKey(c.Node, c.ServiceId)
		instWorst[k] = max(instWorst[k], rank)
		n := instChecks[k]
		n[rank]++
		instChecks[k] = n
	}
	byName := map[string]*serviceSummaryJSON{}
	tags := map[string]map[string]bool{}
	nodes := map[string]map[string]bool{}
	for _, svc := range dump.Services {
		s := byName[svc.Service]
		if s == nil {
			s = &serviceSummaryJSON{Name: svc.Service, Datacenter: dcName}
			byName[svc.Service] = s
			tags[svc.Service] = map[string]bool{}
			nodes[svc.Service] = map[string]bool{}
		}
		for _, t := range svc.Tags {
			tags[svc.Service][t] = true
		}
		nodes[svc.Service][svc.Node] = true
		s.InstanceCount++
		k := instanceKey(svc.Node, svc.Id)
		node := strings.ToLower(svc.Node)
		switch max(nodeWorst[node], instWorst[k]) {
		case 0:
			s.InstancesPassing++
		case 1:
			s.InstancesWarning++
		default:
			s.InstancesCritical++
		}
		own, nc := instChecks[k], nodeChecks[node]
		s.ChecksPassing += own[0] + nc[0]
		s.ChecksWarning += own[1] + nc[1]
		s.ChecksCritical += own[2] + nc[2]
	}
	out := make([]serviceSummaryJSON, 0, len(byName))
	for name, s := range byName {
		s.Tags = sortedKeys(tags[name])
		s.Nodes = sortedKeys(nodes[name])
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nodeDumps groups a dump by node, in the dump's node order.
func nodeDumps(dump *pb.CatalogDumpResponse, only string) []nodeDumpJSON {
	out := make([]nodeDumpJSON, 0, len(dump.Nodes))
	at := map[string]int{}
	for _, n := range dump.Nodes {
		if only != "" && !strings.EqualFold(n.Node, only) {
			continue
		}
		j := toNodeJSON(n)
		at[strings.ToLower(n.Node)] = len(out)
		out = append(out, nodeDumpJSON{
			ID: j.ID, Node: j.Node, Address: j.Address, Datacenter: j.Datacenter,
			TaggedAddresses: j.TaggedAddresses, Meta: j.Meta,
			Services: []agentServiceJSON{}, Checks: []healthCheckJSON{},
			CreateIndex: j.CreateIndex, ModifyIndex: j.ModifyIndex,
		})
	}
	for _, svc := range dump.Services {
		if i, ok := at[strings.ToLower(svc.Node)]; ok {
			out[i].Services = append(out[i].Services, toAgentServiceJSON(svc, ""))
		}
	}
	for _, c := range dump.Checks {
		if i, ok := at[strings.ToLower(c.Node)]; ok {
			out[i].Checks = append(out[i].Checks, toHealthCheckJSON(c))
		}
	}
	return out
}

func (a *Agent) uiNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	dump, _, err := a.catalogDump(w, r)
	if err != nil {
		return nil, err
	}
	return nodeDumps(dump, ""), nil
}

func (a *Agent) uiNode(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("node")
	dump, _, err := a.catalogDump(w, r)
	if err != nil {
		return nil, err
	}
	nodes := nodeDumps(dump, name)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: node %q is not in the catalog", rpc.ErrNotFound, name)
	}
	return nodes[0], nil
}

// registerUI mounts the web console under /ui/ and its summary endpoints
// when the console is on (-ui, ui_config.enabled, ui_dir, -dev). Off,
// /ui/ is an unknown path and / keeps its plain-text banner.
func (a *Agent) registerUI(handle func(string, routeAuth, http.Handler)) {
	if !a.uiEnabled() {
		return
	}
	console, err := ui.Handler(a.cfg.UIDir)
	if err != nil {
		a.log.Error("web console not served", "error", err)
		console = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "web console unavailable: "+err.Error(), http.StatusInternalServerError)
		})
	}
	handle("GET "+ui.Prefix, public("static console assets; its data comes from the API"), console)
	handle("GET /ui", public("a redirect"), http.RedirectHandler(ui.Prefix, http.StatusMovedPermanently))
}

func (a *Agent) uiEnabled() bool { return a.cfg.UI || a.cfg.UIDir != "" }

// rootPage answers GET /: a redirect to the console when it is on (302,
// so turning it off later is not hidden by a cached redirect), else a
// line naming the agent.
func (a *Agent) rootPage(w http.ResponseWriter, r *http.Request) {
	if a.uiEnabled() {
		http.Redirect(w, r, ui.Prefix, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Meridian agent %s (node %s, datacenter %s)\n", Version, a.cfg.NodeName, a.cfg.Datacenter)
}

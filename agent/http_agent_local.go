package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-io/meridian/acl"
	"github.com/meridian-io/meridian/agent/config"
	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/pb"
)

// localError maps the health package's errors to HTTP statuses.
func localError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, health.ErrUnknownService), errors.Is(err, health.ErrUnknownCheck):
		return &httpError{code: http.StatusNotFound, msg: err.Error()}
	case errors.Is(err, health.ErrInvalidCheck), errors.Is(err, health.ErrInvalidStatus),
		errors.Is(err, health.ErrScriptChecksDisabled), errors.Is(err, health.ErrMissingCheckName),
		errors.Is(err, health.ErrMissingServiceName), errors.Is(err, health.ErrNotTTLCheck):
		return badRequest("%s", err.Error())
	}
	return err
}

func (a *Agent) agentServices(w http.ResponseWriter, r *http.Request) (any, error) {
	out := map[string]agentServiceJSON{}
	for id, s := range a.local.State().Services() {
		out[id] = toAgentServiceJSON(s, a.cfg.Datacenter)
	}
	return applyFilter(query(r).Get("filter"), out)
}

// agentService serves one local service with Consul's hash-based
// blocking: ?hash=<ContentHash> waits until the service changes.
func (a *Agent) agentService(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	params := query(r)
	wait := 5 * time.Minute
	if v := params.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, badRequest("Invalid wait time")
		}
		wait = min(d, 10*time.Minute)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := a.local.State().Changed()
		svc := a.local.State().Service(id)
		if svc == nil {
			return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("unknown service ID: %s", id)}
		}
		out := toAgentServiceJSON(svc, a.cfg.Datacenter)
		hash := contentHash(out)
		if params.Get("hash") == "" || params.Get("hash") != hash {
			w.Header().Set("X-Consul-ContentHash", hash)
			return struct {
				agentServiceJSON
				ContentHash string
			}{out, hash}, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			w.Header().Set("X-Consul-ContentHash", hash)
			return struct {
				agentServiceJSON
				ContentHash string
			}{out, hash}, nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
}

func contentHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func (a *Agent) agentServiceRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var in agentServiceRegJSON
	if err := decodeAgentJSON(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, badRequest("Missing service name")
	}
	if ip := net.ParseIP(in.Address); ip != nil && ip.IsUnspecified() {
		return nil, badRequest("Invalid service address")
	}
	if in.Port < 0 || in.Port > 65535 {
		return nil, badRequest("Invalid service port %d", in.Port)
	}
	if in.Weights != nil && (in.Weights.Passing < 1 || in.Weights.Warning < 0) {
		return nil, badRequest("Invalid Weights: Passing must be greater than 0 and Warning not negative")
	}
	if err := config.ValidateMeta(in.Meta); err != nil {
		return nil, badRequest("Invalid Service Meta: %v", err)
	}
	if err := unsupportedCheck(append([]*agentCheckJSON{in.Check}, in.Checks...)...); err != nil {
		return nil, err
	}
	if err := a.allowed(r, acl.ResourceService, acl.AccessWrite, in.Name); err != nil {
		return nil, err
	}
	replace := false
	if v, ok := query(r)["replace-existing-checks"]; ok {
		replace = len(v) == 0 || v[0] == "" || v[0] == "true" || v[0] == "1"
	}
	// Anti-entropy syncs the service with the token it was registered
	// with (the agent token when it came with none).
	svc := in.service()
	if svc.Id == "" {
		svc.Id = svc.Service // as AddService would: the token and the file go by it
	}
	a.tokens.setService(svc.Id, requestToken(r))
	if err := a.local.AddService(svc, in.definitions(), health.SourceRemote, replace); err != nil {
		return nil, localError(err)
	}
	return nil, persisted(fmt.Sprintf("the registration of service %q", svc.Id), a.persistService(svc.Id))
}

func (a *Agent) agentServiceDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if a.local.State().Service(id) == nil {
		return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)}
	}
	if err := a.local.RemoveService(id); err != nil {
		return nil, localError(err)
	}
	return nil, persisted(fmt.Sprintf("the deregistration of service %q", id), a.persistService(id))
}

func parseEnable(r *http.Request) (bool, error) {
	v := query(r).Get("enable")
	if v == "" {
		return false, badRequest("Missing value for enable")
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("Invalid value for enable: %q", v)
	}
	return on, nil
}

func (a *Agent) agentServiceMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	on, err := parseEnable(r)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if on {
		err = a.local.EnableServiceMaintenance(id, query(r).Get("reason"))
	} else {
		err = a.local.DisableServiceMaintenance(id)
	}
	if err != nil {
		return nil, localError(err)
	}
	return nil, persisted(fmt.Sprintf("the maintenance of service %q", id), a.persistService(id))
}

func (a *Agent) agentNodeMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	on, err := parseEnable(r)
	if err != nil {
		return nil, err
	}
	if on {
		a.local.EnableNodeMaintenance(query(r).Get("reason"))
	} else {
		a.local.DisableNodeMaintenance()
	}
	return nil, persisted("node maintenance", a.persistCheck(health.NodeMaintenanceCheckID))
}

func (a *Agent) agentChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	out := map[string]agentCheckOutJSON{}
	for id, c := range a.local.State().Checks() {
		out[id] = toAgentCheckJSON(c)
	}
	return applyFilter(query(r).Get("filter"), out)
}

func (a *Agent) agentCheckRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var in agentCheckJSON
	if err := decodeAgentJSON(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, badRequest("Missing check name")
	}
	if err := unsupportedCheck(&in); err != nil {
		return nil, err
	}
	if in.ServiceID != "" && a.local.State().Service(in.ServiceID) == nil {
		return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("ServiceID %q does not exist", in.ServiceID)}
	}
	if in.ServiceID != "" {
		if err := a.allowed(r, acl.ResourceService, acl.AccessWrite, a.local.State().Service(in.ServiceID).GetService()); err != nil {
			return nil, err
		}
	} else if err := a.allowed(r, acl.ResourceNode, acl.AccessWrite, a.cfg.NodeName); err != nil {
		return nil, err
	}
	def := in.definition()
	if err := a.local.AddCheck(def, health.SourceRemote); err != nil {
		return nil, localError(err)
	}
	id := def.ID
	if id == "" {
		id = def.Name
	}
	return nil, persisted(fmt.Sprintf("the registration of check %q", id), a.persistCheck(id))
}

func (a *Agent) agentCheckDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if a.local.State().Check(id) == nil {
		return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("Unknown check ID %q. Ensure that the check ID is passed, not the check name.", id)}
	}
	if err := a.local.RemoveCheck(id); err != nil {
		return nil, localError(err)
	}
	return nil, persisted(fmt.Sprintf("the deregistration of check %q", id), a.persistCheck(id))
}

// agentCheckTTL handles pass, warn and fail of a TTL check.
func (a *Agent) agentCheckTTL(status string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, a.updateTTL(r.PathValue("id"), status, query(r).Get("note"))
	}
}

func (a *Agent) updateTTL(id, status, output string) error {
	if a.local.State().Check(id) == nil {
		return &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("Unknown check ID %q. Ensure that the check ID is passed, not the check name.", id)}
	}
	if err := a.local.UpdateTTL(id, status, output); err != nil {
		return localError(err)
	}
	return persisted(fmt.Sprintf("the status of check %q", id), a.persistCheck(id))
}

func (a *Agent) agentCheckUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct{ Status, Output string }
	if err := decodeJSONBody(r, maxJSONBody, &in); err != nil {
		return nil, err
	}
	if !health.ValidStatus(in.Status) {
		return nil, badRequest("Invalid check status: '%s'", in.Status)
	}
	return nil, a.updateTTL(r.PathValue("id"), in.Status, in.Output)
}

// serviceChecksInfo is Consul's AgentServiceChecksInfo.
type serviceChecksInfo struct {
	AggregatedStatus string
	Service          agentServiceJSON
	Checks           []agentCheckOutJSON
}

// aggregate ranks statuses as Consul does: maintenance, critical,
// warning, passing.
func aggregate(checks []*pb.HealthCheck) string {
	status := health.StatusPassing
	for _, c := range checks {
		switch {
		case strings.HasPrefix(c.CheckId, "_service_maintenance:") || c.CheckId == health.NodeMaintenanceCheckID:
			return "maintenance"
		case c.Status == health.StatusCritical:
			status = health.StatusCritical
		case c.Status == health.StatusWarning && status == health.StatusPassing:
			status = health.StatusWarning
		}
	}
	return status
}

// agentHealthByID answers load balancers: 200 passing, 429 warning, 503
// critical or maintenance, 404 unknown.
func (a *Agent) agentHealthByID(w http.ResponseWriter, r *http.Request) (any, error) {
	svc := a.local.State().Service(r.PathValue("id"))
	if svc == nil {
		return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("ServiceId %s not found", r.PathValue("id"))}
	}
	info := a.serviceHealth(svc)
	return nil, writeServiceHealth(w, r, []serviceChecksInfo{info}, false)
}

func (a *Agent) agentHealthByName(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	var infos []serviceChecksInfo
	for _, svc := range a.local.State().Services() {
		if svc.Service == name {
			infos = append(infos, a.serviceHealth(svc))
		}
	}
	if len(infos) == 0 {
		return nil, &httpError{code: http.StatusNotFound, msg: fmt.Sprintf("ServiceName %s Not Found", name)}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Service.ID < infos[j].Service.ID })
	return nil, writeServiceHealth(w, r, infos, true)
}

func (a *Agent) serviceHealth(svc *pb.Service) serviceChecksInfo {
	var checks []*pb.HealthCheck
	for _, c := range a.local.State().Checks() {
		if c.ServiceId == svc.Id || c.ServiceId == "" {
			checks = append(checks, c)
		}
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].CheckId < checks[j].CheckId })
	out := make([]agentCheckOutJSON, 0, len(checks))
	for _, c := range checks {
		out = append(out, toAgentCheckJSON(c))
	}
	return serviceChecksInfo{AggregatedStatus: aggregate(checks), Service: toAgentServiceJSON(svc, a.cfg.Datacenter), Checks: out}
}

func writeServiceHealth(w http.ResponseWriter, r *http.Request, infos []serviceChecksInfo, list bool) error {
	worst := health.StatusPassing
	rank := map[string]int{health.StatusPassing: 0, health.StatusWarning: 1, health.StatusCritical: 2, "maintenance": 3}
	for _, i := range infos {
		if rank[i.AggregatedStatus] > rank[worst] {
			worst = i.AggregatedStatus
		}
	}
	code := map[string]int{health.StatusPassing: http.StatusOK, health.StatusWarning: http.StatusTooManyRequests,
		health.StatusCritical: http.StatusServiceUnavailable, "maintenance": http.StatusServiceUnavailable}[worst]
	if query(r).Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprint(w, worst)
		return nil
	}
	if list {
		writeJSON(w, r, code, infos)
	} else {
		writeJSON(w, r, code, infos[0])
	}
	return nil
}

// agentReload re-reads the configuration files and applies their services
// and checks (the rest needs a restart, as the warnings say).
func (a *Agent) agentReload(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.Reload()
}

// Reload re-reads the configuration the agent started from and applies
// what can change without a restart: services, checks and watches; every
// other changed setting is named in a warning (it needs a restart).
// Errors leave the running configuration as it was.
func (a *Agent) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cfg, warnings, err := config.Reload(a.loaded)
	if err != nil {
		return badRequest("Failed to reload configs: %v", err)
	}
	tlsCfg := cfg.Clone() // -secure fills in its material on this copy
	if err := a.reloadTLS(tlsCfg); err != nil {
		return badRequest("Failed to reload configs: %v", err)
	}
	for _, w := range warnings {
		a.log.Warn("reload: " + w)
	}
	if err := a.reloadConfigServices(cfg); err != nil {
		return badRequest("Failed to reload configs: %v", err)
	}
	a.stopWatches()
	if err := a.startWatches(cfg); err != nil {
		return badRequest("Failed to reload configs: %v", err)
	}
	a.cfg.Services, a.cfg.Checks, a.cfg.Watches = cfg.Services, cfg.Checks, cfg.Watches
	a.loaded.Services, a.loaded.Checks, a.loaded.Watches, a.loaded.TLS = cfg.Services, cfg.Checks, cfg.Watches, cfg.TLS
	a.log.Info("configuration reloaded", "services", len(cfg.Services), "checks", len(cfg.Checks))
	return nil
}

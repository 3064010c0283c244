package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/health"
	"github.com/meridian-io/meridian/pb"
)

// Services and checks registered through the HTTP API, and maintenance
// mode, outlive a restart of the agent, as in Consul: each is a file in
// the data directory (services/ and checks/), written before the
// registration is answered and removed with it. At start, after the
// config files' services, the agent registers them again; a file whose
// ID a config file now defines is dropped (the config file wins). A check
// starts with the status it had when its file was last written: at its
// registration, and for a TTL check at each change its application
// reported, unless its TTL ran out since (then critical). A -dev agent
// has no data directory and keeps nothing.

const (
	persistServicesDir = "services"
	persistChecksDir   = "checks"
)

// readOpts read a saved registration; fields a later release added are
// skipped, so a downgrade keeps what this release knows of it.
var readOpts = protojson.UnmarshalOptions{DiscardUnknown: true}

// persistedService is the file of one service registered through the API.
type persistedService struct {
	Service json.RawMessage // pb.Service, protojson
	// Token is the ACL token anti-entropy syncs the service with.
	Token string `json:",omitempty"`
}

// persistedCheck is the file of one check registered through the API (or
// a maintenance check).
type persistedCheck struct {
	Check json.RawMessage // pb.HealthCheck with its definition, protojson
}

// localPersist keeps the files. mu orders the writes: each one is made
// from the local state as it is once mu is held, so the last write of a
// file follows the last change of what it holds.
type localPersist struct {
	dir string // the data directory; "" keeps nothing

	mu sync.Mutex
	// written maps each file kept to the sha256 of its content; checkOf
	// maps the ID of each check file kept to the ID of its service ("" for
	// the node's).
	written map[string][32]byte
	checkOf map[string]string
}

func newLocalPersist(dataDir string) *localPersist {
	return &localPersist{dir: dataDir, written: map[string][32]byte{}, checkOf: map[string]string{}}
}

// persistFileName is the file of an ID (IDs may hold any character).
func persistFileName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16]) + ".json"
}

// put writes data to rel (relative to the data directory) unless it holds
// that already; nil data removes it.
func (p *localPersist) put(rel string, data []byte) error {
	path := filepath.Join(p.dir, rel)
	if data == nil {
		if _, ok := p.written[rel]; !ok {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		delete(p.written, rel)
		return syncDir(filepath.Dir(path))
	}
	sum := sha256.Sum256(data)
	if old, ok := p.written[rel]; ok && old == sum {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := writeFileDurable(path, data, 0o600); err != nil {
		return err
	}
	p.written[rel] = sum
	return nil
}

// persistService brings the files of a service and of its checks in line
// with the local state. Config files' services and checks have none.
func (a *Agent) persistService(id string) error {
	p := a.persist
	if p.dir == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return a.persistServiceLocked(id)
}

func (a *Agent) persistServiceLocked(id string) error {
	p := a.persist
	a.configMu.Lock()
	fromConfig := a.configServices[id]
	a.configMu.Unlock()
	st := a.local.State()
	var data []byte
	if svc := st.Service(id); svc != nil && !fromConfig {
		raw, err := protojson.Marshal(svc)
		if err != nil {
			return err
		}
		if data, err = json.Marshal(persistedService{Service: raw, Token: a.tokens.registered(id)}); err != nil {
			return err
		}
	}
	if err := p.put(filepath.Join(persistServicesDir, persistFileName(id)), data); err != nil {
		return err
	}
	checks := st.ServiceChecks(id)
	for cid, hc := range checks {
		if err := a.putCheckLocked(cid, hc); err != nil {
			return err
		}
	}
	for cid, owner := range p.checkOf {
		if _, ok := checks[cid]; owner == id && !ok {
			if err := a.putCheckLocked(cid, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// persistCheck brings the file of a check in line with the local state;
// for a service's check (or one that was), the files of the whole service.
func (a *Agent) persistCheck(id string) error {
	p := a.persist
	if p.dir == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	hc := a.local.State().Check(id)
	owner := hc.GetServiceId()
	if hc == nil {
		owner = p.checkOf[id]
	}
	if owner != "" {
		return a.persistServiceLocked(owner)
	}
	return a.putCheckLocked(id, hc)
}

// putCheckLocked writes the file of check id (hc), or removes it (hc nil,
// or a check a config file defines). p.mu is held.
func (a *Agent) putCheckLocked(id string, hc *pb.HealthCheck) error {
	p := a.persist
	a.configMu.Lock()
	fromConfig := a.configChecks[id]
	a.configMu.Unlock()
	rel := filepath.Join(persistChecksDir, persistFileName(id))
	if hc == nil || fromConfig {
		delete(p.checkOf, id)
		return p.put(rel, nil)
	}
	// The output is not kept (a restored check has none until it runs or
	// is reported again), so a report that changes only the output
	// rewrites nothing.
	row := proto.Clone(hc).(*pb.HealthCheck)
	row.Output = ""
	raw, err := protojson.Marshal(row)
	if err != nil {
		return err
	}
	data, err := json.Marshal(persistedCheck{Check: raw})
	if err != nil {
		return err
	}
	if err := p.put(rel, data); err != nil {
		return err
	}
	p.checkOf[id] = hc.GetServiceId()
	if hc.GetDefinition().GetTtlNanos() > 0 {
		// A TTL check's file dates its last report, even one that
		// changed nothing (restoreLocal reads the date).
		now := time.Now()
		os.Chtimes(filepath.Join(p.dir, rel), now, now)
	}
	return nil
}

// persisted reports a failure to keep a change on disk: the agent runs
// with it, but a restart would undo it.
func persisted(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s took effect but could not be saved in the data directory (a restart would undo it): %w", what, err)
}

// restoreLocal registers again what the files of the data directory hold.
// An entry that cannot be registered any more (its service is gone, or a
// script check the configuration now refuses) is logged and its file
// removed; a file that cannot be read is set aside with a .bad suffix.
func (a *Agent) restoreLocal() error {
	p := a.persist
	if p.dir == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	services, err := p.readDir(persistServicesDir)
	if err != nil {
		return err
	}
	for _, rel := range services {
		var ps persistedService
		svc := &pb.Service{}
		if !a.readPersisted(rel, &ps, func() error { return readOpts.Unmarshal(ps.Service, svc) }) {
			continue
		}
		a.configMu.Lock()
		fromConfig := a.configServices[svc.GetId()]
		a.configMu.Unlock()
		if fromConfig || rel != filepath.Join(persistServicesDir, persistFileName(svc.GetId())) {
			a.log.Info("dropping a saved service: a config file defines it", "service", svc.GetId())
			p.forget(rel)
			continue
		}
		a.tokens.setService(svc.Id, ps.Token)
		if err := a.local.AddService(svc, nil, health.SourceRemote, false); err != nil {
			a.log.Warn("saved service not registered again", "service", svc.GetId(), "error", err)
			p.forget(rel)
			continue
		}
		p.written[rel] = fileSum(filepath.Join(p.dir, rel))
	}
	checks, err := p.readDir(persistChecksDir)
	if err != nil {
		return err
	}
	for _, rel := range checks {
		var pc persistedCheck
		hc := &pb.HealthCheck{}
		if !a.readPersisted(rel, &pc, func() error { return readOpts.Unmarshal(pc.Check, hc) }) {
			continue
		}
		id := hc.GetCheckId()
		a.configMu.Lock()
		fromConfig := a.configChecks[id]
		a.configMu.Unlock()
		if fromConfig || rel != filepath.Join(persistChecksDir, persistFileName(id)) {
			a.log.Info("dropping a saved check: a config file defines it", "check", id)
			p.forget(rel)
			continue
		}
		if ttl := time.Duration(hc.GetDefinition().GetTtlNanos()); ttl > 0 {
			// The file is dated by the application's last report: a TTL
			// that ran out while the agent was stopped leaves it critical.
			if info, err := os.Stat(filepath.Join(p.dir, rel)); err == nil && time.Since(info.ModTime()) > ttl {
				hc.Status = health.StatusCritical
			}
		}
		switch {
		case id == health.NodeMaintenanceCheckID:
			a.local.EnableNodeMaintenance(hc.GetNotes())
		case strings.HasPrefix(id, health.ServiceMaintenancePrefix):
			err = a.local.EnableServiceMaintenance(hc.GetServiceId(), hc.GetNotes())
		default:
			err = a.local.AddCheck(health.DefinitionFromProto(hc), health.SourceRemote)
		}
		if err != nil {
			a.log.Warn("saved check not registered again", "check", id, "error", err)
			p.forget(rel)
			continue
		}
		p.written[rel] = fileSum(filepath.Join(p.dir, rel))
		p.checkOf[id] = hc.GetServiceId()
	}
	return nil
}

// readDir lists the files of a directory of the data directory, relative
// to it, in a stable order; leftovers of interrupted writes are removed.
func (p *localPersist) readDir(sub string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(p.dir, sub))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read saved registrations: %w", err)
	}
	var out []string
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(p.dir, sub, name))
		case strings.HasSuffix(name, ".json") && e.Type().IsRegular():
			out = append(out, filepath.Join(sub, name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// readPersisted decodes the file rel into v and then with inner; a file
// that does not decode is renamed to rel.bad and false returned.
func (a *Agent) readPersisted(rel string, v any, inner func() error) bool {
	path := filepath.Join(a.persist.dir, rel)
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err == nil {
		err = inner()
	}
	if err != nil {
		a.log.Error("saved registration unreadable; set aside", "file", path+".bad", "error", err)
		os.Rename(path, path+".bad")
		return false
	}
	return true
}

// forget removes the file rel.
func (p *localPersist) forget(rel string) {
	os.Remove(filepath.Join(p.dir, rel))
	delete(p.written, rel)
}

func fileSum(path string) [32]byte {
	data, _ := os.ReadFile(path)
	return sha256.Sum256(data)
}

// writeFileDurable writes a file whole and on disk before it returns: a
// reader, even after a crash, sees the old content or the new.
func writeFileDurable(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries (a rename, a removal) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

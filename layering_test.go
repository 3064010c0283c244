package meridian_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/meridian-io/meridian"

// allowed lists, for each package, the Meridian packages it may import:
// each layer imports only layers below it (DESIGN.md). Every package has
// an entry, internal/ ones included.
var allowed = map[string][]string{
	"pb":                   {},
	"acl":                  {},
	"store":                {"pb"},
	"rpc":                  {"pb"},
	"internal/logging":     {},
	"internal/clock":       {},
	"internal/gctune":      {},
	"internal/telemetry":   {},
	"internal/serfpool":    {"internal/logging", "internal/telemetry"},
	"lan":                  {"internal/logging", "internal/serfpool"},
	"wan":                  {"internal/logging", "internal/serfpool"},
	"health":               {"pb", "internal/clock", "internal/logging"},
	"snapshot":             {},
	"dc":                   {"pb", "acl", "store", "rpc", "wan", "snapshot", "internal/clock", "internal/logging", "internal/telemetry"},
	"internal/tlsconf":     {},
	"internal/freeport":    {},
	"agent/config":         {"internal/tlsconf"},
	"agent/watch":          {"internal/logging"},
	"agent/ui":             {},
	"agent/dns":            {},
	"agent":                {"pb", "acl", "store", "rpc", "lan", "wan", "dc", "snapshot", "health", "agent/config", "agent/watch", "agent/ui", "agent/dns", "internal/clock", "internal/logging", "internal/tlsconf", "internal/telemetry", "internal/freeport"},
	"internal/faultnet":    {},
	"internal/memnet":      {},
	"internal/bubble":      {},
	"internal/testcluster": {"agent", "agent/config", "dc", "health", "internal/logging", "internal/faultnet"},
	// Test-only packages: their non-test files are a doc.go and helpers.
	"internal/chaos":   {"rpc"},
	"internal/kvbench": {},
	"e2e":              {},
	// The watch fan-out's floor for benchmarks, and its server command.
	"internal/plainkv":        {},
	"internal/plainkv/server": {"internal/plainkv"},
	"cmd/meridian":            {"agent", "agent/config", "agent/watch", "snapshot", "internal/logging", "internal/tlsconf", "internal/gctune"},
}

// testSupport are the packages that exist for tests: production packages
// never import them (their layer rules above do not list them), and
// tests may, as testAllowed says.
var testSupport = map[string]bool{
	"internal/bubble":      true,
	"internal/faultnet":    true,
	"internal/memnet":      true,
	"internal/testcluster": true,
}

// testAllowed lists what a package's tests (in-package and _test
// packages) may import beyond what the package itself may: test-support
// packages, and, with a reason, anything else. A test that imports a
// layer above its package fails here.
var testAllowed = map[string][]string{
	// internal/bubble (tests in synctest bubbles) imports nothing of
	// Meridian: any package's tests may use it.
	"rpc": {"internal/tlsconf", "internal/bubble"},
	"dc":  {"internal/memnet", "internal/bubble", "internal/faultnet"},
	// The log file's rotation by age is tested on a fake clock.
	"internal/logging": {"internal/clock"},
	"agent":            {"agent", "internal/faultnet", "internal/testcluster", "store", "internal/bubble"},
	"cmd/meridian":     {"internal/testcluster"},
	// The console's browser tests run it against a real datacenter.
	"agent/ui":         {"internal/testcluster"},
	"internal/chaos":   {"internal/faultnet", "internal/testcluster"},
	"internal/kvbench": {"dc", "internal/faultnet", "internal/testcluster"},
	// logformat_test appends a raw entry to a stopped server's log to
	// prove that an entry it cannot interpret stops the server; it needs
	// the log's vocabulary and nothing else of the product.
	// Ports for the agents it starts come from outside the ephemeral range.
	"e2e": {"pb", "internal/freeport"},

	"agent/dns":       {"internal/bubble"},
	"internal/memnet": {"internal/bubble"},
	"store":           {"internal/bubble"},
}

// raftModule is Raft and its storage: only dc holds a *raft.Raft and
// opens what it runs on (DESIGN.md).
const raftModule = "github.com/hashicorp/raft"

// raftImporters are the packages whose non-test code may import
// raftModule, with the reason. Tests of any package may.
var raftImporters = map[string]string{
	"dc": "the only package that holds Raft",
	// faultnet.SlowLogStore wraps a raft.LogStore to model a slow disk
	// under a server (testcluster hands it to agent.WithRaftLogStore as a
	// dc.LogStore); faultnet is test support, imported by no production
	// package, so Raft does not leak into the product through it.
	"internal/faultnet": "test support: SlowLogStore wraps Raft's log store to slow a server's disk",
}

// forbiddenStd are outside imports a package must not use, with the reason.
var forbiddenStd = map[string]map[string]string{
	"store": {
		"net":                       "the store knows nothing of networks",
		"github.com/hashicorp/raft": "only dc holds Raft; the store is a pure state machine",
		"time":                      "the store is deterministic: time arrives in commands",
	},
	"pb":     {"net": "pb is vocabulary only"},
	"rpc":    {"github.com/meridian-io/meridian/store": "rpc knows nothing of state"},
	"health": {"github.com/hashicorp/raft": "health reaches the catalog only through its Catalog interface"},
	"lan":    {"github.com/hashicorp/raft": "lan knows nothing of Raft"},
	"wan":    {"github.com/hashicorp/raft": "wan knows nothing of Raft"},
	"agent/config": {
		"net/http": "config parses files and flags; it talks to nobody",
		"net/rpc":  "config parses files and flags; it talks to nobody",
	},
	"internal/serfpool": {"github.com/hashicorp/raft": "a gossip pool knows nothing of Raft"},
}

// onlyModules limits the outside modules a package may import; the
// standard library is always allowed.
var onlyModules = map[string][]string{
	// go-sockaddr's template language resolves addresses such as
	// "{{ GetPrivateIP }}" in bind_addr and client_addr, as Consul does.
	"agent/config": {"github.com/hashicorp/hcl", "github.com/hashicorp/go-sockaddr", module + "/internal/tlsconf"},
	// agent/dns reads the catalog only through its Backend interface.
	"agent/dns": {"github.com/miekg/dns"},
	// Watches are a client of the HTTP API through the official client.
	"agent/watch": {"github.com/hashicorp/consul/api", module + "/internal/logging"},
}

type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Name         string
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "" {
			continue
		}
		seen++
		rules, known := allowed[rel]
		if !known {
			t.Errorf("package %s has no layering rule: add it to allowed", rel)
			continue
		}
		for _, imp := range p.Imports {
			if imp == "testing" && rel != "internal/testcluster" && rel != "internal/bubble" {
				t.Errorf("%s imports testing: production code must not", rel)
			}
			if why, bad := forbiddenStd[rel][imp]; bad {
				t.Errorf("%s imports %s: %s", rel, imp, why)
			}
			if isRaft(imp) {
				if _, ok := raftImporters[rel]; !ok {
					t.Errorf("%s imports %s: only dc imports Raft outside tests (see raftImporters)", rel, imp)
				}
			}
			if mods, limited := onlyModules[rel]; limited && strings.Contains(strings.Split(imp, "/")[0], ".") {
				ok := false
				for _, m := range mods {
					ok = ok || imp == m || strings.HasPrefix(imp, m+"/")
				}
				if !ok {
					t.Errorf("%s imports %s: it may import only the standard library and %v", rel, imp, mods)
				}
			}
			if dep, ours := strings.CutPrefix(imp, module+"/"); ours && !slices.Contains(rules, dep) {
				t.Errorf("%s imports %s, which its layer may not", rel, dep)
			}
			if dep, ours := strings.CutPrefix(imp, module+"/"); ours && testSupport[dep] && !testSupport[rel] {
				t.Errorf("%s imports %s: test support is for tests only", rel, dep)
			}
		}
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			dep, ours := strings.CutPrefix(imp, module+"/")
			if !ours || imp == p.ImportPath || slices.Contains(rules, dep) || slices.Contains(testAllowed[rel], dep) {
				continue
			}
			t.Errorf("tests of %s import %s, which neither its layer nor testAllowed allows", rel, dep)
		}
	}
	if seen < 8 {
		t.Fatalf("only %d packages listed", seen)
	}
	for rel := range raftImporters {
		if _, ok := allowed[rel]; !ok {
			t.Errorf("raftImporters names %s, which is not a package", rel)
		}
	}
}

func isRaft(imp string) bool {
	return imp == raftModule || strings.HasPrefix(imp, raftModule+"/") || strings.HasPrefix(imp, raftModule+"-")
}

package meridian_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/meridian-io/meridian"

// allowed lists, for each package, the Meridian packages it may import:
// each layer imports only layers below it (DESIGN.md).
var allowed = map[string][]string{
	"pb":                   {},
	"store":                {"pb"},
	"rpc":                  {"pb"},
	"internal/logging":     {},
	"lan":                  {"internal/logging"},
	"wan":                  {"internal/logging"},
	"health":               {"pb", "internal/logging"},
	"dc":                   {"pb", "store", "rpc", "wan", "internal/logging"},
	"agent/config":         {},
	"agent/watch":          {"internal/logging"},
	"agent":                {"pb", "store", "rpc", "lan", "wan", "dc", "health", "agent/config", "agent/watch", "internal/logging"},
	"internal/faultnet":    {},
	"internal/testcluster": {"agent", "agent/config", "dc", "health", "internal/logging", "internal/faultnet"},
	"cmd/meridian":         {"agent", "agent/config", "agent/watch", "internal/logging"},
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
}

// onlyModules limits the outside modules a package may import; the
// standard library is always allowed.
var onlyModules = map[string][]string{
	"agent/config": {"github.com/hashicorp/hcl"},
	// Watches are a client of the HTTP API through the official client.
	"agent/watch": {"github.com/hashicorp/consul/api", module + "/internal/logging"},
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Name       string
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
		if !known && !strings.HasPrefix(rel, "internal/") && !strings.HasPrefix(rel, "e2e") {
			t.Errorf("package %s has no layering rule: add it to allowed", rel)
			continue
		}
		for _, imp := range p.Imports {
			if imp == "testing" && rel != "internal/testcluster" {
				t.Errorf("%s imports testing: production code must not", rel)
			}
			if why, bad := forbiddenStd[rel][imp]; bad {
				t.Errorf("%s imports %s: %s", rel, imp, why)
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
			if !strings.HasPrefix(imp, module+"/") || !known {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			ok := false
			for _, a := range rules {
				if a == dep {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which its layer may not", rel, dep)
			}
		}
	}
	if seen < 8 {
		t.Fatalf("only %d packages listed", seen)
	}
}

package lan

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps lan below the packages that use it: it knows nothing
// of Raft, the catalog, RPC or the agent.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{
		"github.com/hashicorp/raft",
		"github.com/meridian-io/meridian/store",
		"github.com/meridian-io/meridian/rpc",
		"github.com/meridian-io/meridian/dc",
		"github.com/meridian-io/meridian/health",
		"github.com/meridian-io/meridian/agent",
		"github.com/meridian-io/meridian/wan",
		"testing",
	}
	for _, imp := range pkg.Imports {
		for _, f := range forbidden {
			if imp == f || strings.HasPrefix(imp, f+"/") {
				t.Errorf("lan imports %s", imp)
			}
		}
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports read")
	}
}

package health

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps health below the packages that use it: it reaches the
// catalog only through its Catalog interface.
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
		"github.com/meridian-io/meridian/lan",
		"github.com/meridian-io/meridian/wan",
		"github.com/meridian-io/meridian/agent",
		"testing",
	}
	for _, imp := range pkg.Imports {
		for _, f := range forbidden {
			if imp == f || strings.HasPrefix(imp, f+"/") {
				t.Errorf("health imports %s", imp)
			}
		}
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports read")
	}
}

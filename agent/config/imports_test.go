package config

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds config to its doc.go promise: the standard library and
// hcl v1 only (no other module, no Meridian package, no testing), and no
// network client packages.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports read")
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		thirdParty := strings.Contains(first, ".")
		switch {
		case thirdParty && imp != "github.com/hashicorp/hcl":
			t.Errorf("config imports %s: only the standard library and github.com/hashicorp/hcl are allowed", imp)
		case imp == "testing", strings.HasPrefix(imp, "net/http"), imp == "net/rpc", imp == "net/smtp":
			t.Errorf("config imports %s", imp)
		}
	}
}

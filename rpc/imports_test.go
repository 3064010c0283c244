package rpc

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rpc may import pb and no other Meridian package (doc.go says why), and no
// production file may import testing.
func TestImportsStayBelowRPC(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/meridian-io/meridian/"
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && path != module+"pb" {
				t.Errorf("%s imports %s: rpc may import only pb of Meridian", name, path)
			}
			if path == "testing" {
				t.Errorf("%s imports testing in production code", name)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

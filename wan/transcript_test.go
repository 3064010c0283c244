package wan

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rewrite regenerates the expected output of transcript files:
// go test ./wan -run Transcript -rewrite
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata transcripts")

// A transcript file is a sequence of blocks in the style of etcd-io/raft's
// datadriven tests:
//
//	# comment
//	command arg key=value ...
//	----
//	expected output (no blank lines)
//
// Blocks are separated by blank lines; comments stand between blocks.

// transcriptCase is one command of a transcript.
type transcriptCase struct {
	line    int      // 1-based line of the command
	command string   // the command line
	output  []string // expected output lines
	end     int      // index of the first line after the block
}

// runTranscript runs every command of path through do and compares (or,
// with -rewrite, replaces) the output.
func runTranscript(t *testing.T, path string, do func(cmd string, args []string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			i++
			continue
		}
		c, err := parseCase(lines, i)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		fields := strings.Fields(c.command)
		got := strings.TrimRight(do(fields[0], fields[1:]), "\n")
		if got == "" {
			got = "ok"
		}
		want := strings.Join(c.output, "\n")
		if got != want && !*rewrite {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, c.line, c.command, got, want)
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n", c.command, got)
		i = c.end
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// parseCase reads the block that starts at lines[i].
func parseCase(lines []string, i int) (transcriptCase, error) {
	c := transcriptCase{line: i + 1, command: strings.TrimSpace(lines[i])}
	if i+1 >= len(lines) || lines[i+1] != "----" {
		return c, fmt.Errorf("line %d: command %q is not followed by ----", i+1, c.command)
	}
	j := i + 2
	for j < len(lines) && strings.TrimSpace(lines[j]) != "" {
		c.output = append(c.output, lines[j])
		j++
	}
	c.end = j
	return c, nil
}

func TestRouterTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts under testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			d := &routerDriver{}
			runTranscript(t, f, d.do)
		})
	}
}

func TestTranscriptParserRejectsMissingSeparator(t *testing.T) {
	if _, err := parseCase([]string{"servers dc1", "dc1"}, 0); err == nil {
		t.Fatal("a command without ---- was accepted")
	}
	c, err := parseCase([]string{"datacenters", "----", "dc1", "", "next"}, 0)
	if err != nil || c.end != 3 || len(c.output) != 1 {
		t.Fatalf("parseCase = %+v, %v", c, err)
	}
}

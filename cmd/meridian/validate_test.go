package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	good := t.TempDir()
	writeConf(t, good, "hello.json", `{"services":[{"id":"hello1","name":"hello","tags":["primary"],"address":"127.0.0.1","port":5000,
"checks":[{"http":"http://localhost:5000/","tls_skip_verify":false,"method":"Get","interval":"10s","timeout":"1s"}]}]}`)
	for _, args := range [][]string{{"validate", good}, {"configtest", "-config-dir=" + good}, {"validate", "--config-dir", good}} {
		res := runCLI(t, nil, nil, "", args...)
		if res.code != exitOK || res.stdout != "Configuration is valid!\n" || res.stderr != "" {
			t.Errorf("%q: code %d, stdout %q, stderr %q", args, res.code, res.stdout, res.stderr)
		}
	}
	if res := runCLI(t, nil, nil, "", "validate", "-quiet", good); res.code != exitOK || res.stdout != "" {
		t.Errorf("-quiet: code %d, stdout %q", res.code, res.stdout)
	}

	bad := t.TempDir()
	a := writeConf(t, bad, "a.json", `{"datacenter": "dc1", "portz": {}}`)
	b := writeConf(t, bad, "b.hcl", `ports { http = "x" }`)
	res := runCLI(t, nil, nil, "", "configtest", "-config-dir="+bad)
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if res.code != exitError || res.stdout != "" || len(lines) != 2 ||
		!strings.Contains(lines[0], a) || !strings.Contains(lines[0], "portz") ||
		!strings.Contains(lines[1], b) || !strings.Contains(lines[1], "ports.http") {
		t.Errorf("bad dir: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if res := runCLI(t, nil, nil, "", "validate"); res.code != exitUsage {
		t.Errorf("no paths: code %d", res.code)
	}
}

func writeConf(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

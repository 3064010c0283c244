package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const cliTimeout = 20 * time.Second

// cliResult is what one run of the CLI printed and its exit status.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the meridian binary with args (and stdin) to completion,
// bounded by cliTimeout.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("meridian %s: still running after %s", strings.Join(args, " "), cliTimeout)
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("meridian %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// mustCLI runs the CLI and fails the test unless it exits 0.
func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	res := runCLI(t, stdin, args...)
	if res.code != 0 {
		t.Fatalf("meridian %s: exit %d, stderr %q", strings.Join(args, " "), res.code, res.stderr)
	}
	return res.stdout
}

// lines are the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// firstFields are the first n whitespace-separated fields of line (fewer
// if it has fewer).
func firstFields(line string, n int) []string {
	f := strings.Fields(line)
	return f[:min(n, len(f))]
}

// startDev starts `meridian agent -dev` on free ports and waits until it
// leads itself.
func startDev(t *testing.T, e *env, name string) *agentProc {
	t.Helper()
	p := e.startAgent(name, "-dev", "-node", name)
	e.waitLeader(startTimeout, "", p)
	return p
}

func TestDevAgentCLI(t *testing.T) {
	e := newEnv(t)
	dev := startDev(t, e, "dev1")
	at := "-http-addr=" + dev.HTTPAddr

	if out := mustCLI(t, "", "kv", "put", at, "a/b", "hello"); out != "Success! Data written to: a/b\n" {
		t.Errorf("kv put printed %q", out)
	}
	if out := mustCLI(t, "", "kv", "get", at, "a/b"); out != "hello\n" {
		t.Errorf("kv get a/b printed %q, want %q", out, "hello\n")
	}
	missing := runCLI(t, "", "kv", "get", at, "missing")
	if missing.code == 0 || missing.stdout != "" || len(lines(missing.stderr)) != 1 || !strings.Contains(missing.stderr, "missing") {
		t.Errorf("kv get missing: exit %d, stdout %q, stderr %q; want non-zero, nothing, one line naming the key",
			missing.code, missing.stdout, missing.stderr)
	}

	// A bad flag value stops the agent before it starts. The other ports
	// are free ones, so an agent that wrongly started would collide with
	// nothing (and runCLI would time out).
	args := append([]string{"agent", "-dev"}, e.newPorts().flags()...)
	bad := runCLI(t, "", append(args, "-http-port", "notanumber")...)
	if bad.code == 0 || len(lines(bad.stderr)) != 1 || !strings.Contains(bad.stderr, "notanumber") {
		t.Errorf("agent -dev -http-port notanumber: exit %d, stderr %q; want non-zero and one line naming the value",
			bad.code, bad.stderr)
	}

	// export | import into a second agent carries keys, values and flags.
	mustCLI(t, "", "kv", "put", at, "-flags=42", "a/c/d", "with flags")
	mustCLI(t, "", "kv", "put", at, "a/empty", "")
	mustCLI(t, "", "kv", "put", at, "outside", "not exported")
	exported := mustCLI(t, "", "kv", "export", at, "a/")
	other := startDev(t, e, "dev2")
	imported := mustCLI(t, exported, "kv", "import", "-http-addr="+other.HTTPAddr, "-")
	if got := len(lines(imported)); got != 3 {
		t.Errorf("kv import printed %d lines, want 3:\n%s", got, imported)
	}
	want := kvTree(t, dev, "")
	want = slices.DeleteFunc(want, func(p kvEntry) bool { return p.Key == "outside" })
	if got := kvTree(t, other, ""); !slices.Equal(got, want) {
		t.Errorf("after export/import the second agent holds\n%v\nwant\n%v", got, want)
	}

	members := lines(mustCLI(t, "", "members", at))
	if len(members) != 2 || !slices.Equal(firstFields(members[1], 3), []string{"dev1", dev.LANAddr, "alive"}) {
		t.Errorf("members printed %q, want a header and dev1 %s alive", members, dev.LANAddr)
	}
	peers := lines(mustCLI(t, "", "operator", "raft", "list-peers", at))
	if len(peers) != 2 || !slices.Contains(strings.Fields(peers[1]), "leader") || !strings.Contains(peers[1], dev.ServerAddr) {
		t.Errorf("list-peers printed %q, want a header and one leader at %s", peers, dev.ServerAddr)
	}
}

// kvEntry is what a KV round trip must keep.
type kvEntry struct {
	Key   string
	Flags uint64
	Value string
}

// kvTree lists every key under prefix through p (consistent read).
func kvTree(t *testing.T, p *agentProc, prefix string) []kvEntry {
	t.Helper()
	pairs, _, err := p.API.KV().List(prefix, &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		t.Fatalf("list %q through %s: %v", prefix, p.Name, err)
	}
	out := make([]kvEntry, len(pairs))
	for i, kv := range pairs {
		out[i] = kvEntry{Key: kv.Key, Flags: kv.Flags, Value: string(kv.Value)}
	}
	return out
}

// TestDebugCLI: `meridian debug` against a dev agent writes an archive
// with the agent's state, members, metrics, profiles and the log lines the
// agent wrote while it ran.
func TestDebugCLI(t *testing.T) {
	e := newEnv(t)
	dev := startDev(t, e, "dbg1")
	out := filepath.Join(t.TempDir(), "bundle")
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "debug", "-http-addr="+dev.HTTPAddr, "-duration", "3s", "-interval", "1s", "-output", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Registrations while it runs give it log lines to capture (the agent
	// logs each sync at debug level), until its log file has some.
	var err error
	for i := 0; ; i++ {
		select {
		case err = <-exited:
		default:
			if info, serr := os.Stat(filepath.Join(out, "meridian.log")); serr == nil && info.Size() > 0 {
				err = <-exited
				break
			}
			if rerr := dev.API.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: fmt.Sprintf("svc-%d", i%20), Port: 1}); rerr != nil {
				t.Fatal(rerr)
			}
			continue
		}
		break
	}
	if err != nil || !strings.Contains(stdout.String(), "Saved debug archive: "+out+".tar.gz") {
		t.Fatalf("debug: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}
	f, err := os.Open(out + ".tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes[path.Base(hdr.Name)] += hdr.Size
	}
	for _, name := range []string{"agent.json", "members.json", "metrics.json", "meridian.log", "profile.prof", "heap.prof", "goroutine.prof", "trace.out"} {
		if sizes[name] == 0 {
			t.Errorf("archive: %s missing or empty (have %v)", name, sizes)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory was left beside the archive: %v", err)
	}
	bad := runCLI(t, "", "debug", "-http-addr="+dev.HTTPAddr, "-interval", "5s", "-duration", "1s")
	if bad.code == 0 || len(lines(bad.stderr)) != 1 || !strings.Contains(bad.stderr, "-duration") {
		t.Errorf("duration below interval: exit %d, stderr %q", bad.code, bad.stderr)
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wanFailFastBound bounds a ?dc= request to a datacenter whose servers
// have just dropped off the WAN network: it must fail, and within this
// long (a dial of a vanished address gives up after 2 s, a pooled session
// that stops answering pings after 1.5 s, and forwarding stops trying
// further servers 2.5 s into a request).
const wanFailFastBound = 5 * time.Second

// compose runs docker-compose (or `docker compose`) on the repository's
// compose file under one project.
type compose struct {
	t       *testing.T
	cmd     []string
	file    string
	project string
	env     []string
}

func (c *compose) run(ctx context.Context, args ...string) (string, error) {
	full := append(append(append([]string(nil), c.cmd[1:]...), "-p", c.project, "-f", c.file), args...)
	cmd := exec.CommandContext(ctx, c.cmd[0], full...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", c.cmd[0], strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

// composeCommand finds docker-compose, or the compose plugin of docker.
func composeCommand() ([]string, error) {
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	return nil, errors.New("neither docker-compose nor the docker compose plugin is installed")
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// httpDo sends one request and returns the status, body and time taken.
func httpDo(method, url, body string, timeout time.Duration) (int, string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", 0, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start), nil
}

// waitFor polls cond until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestDockerComposeFederation builds the FROM-scratch image and starts
// dist/docker/docker-compose.yml (two datacenters of 3 servers and a
// client agent, servers WAN-joined over a shared network): both see each
// other, a write through dc1's client lands in dc2, dc2's servers cut off
// the WAN network leave dc1 serving while ?dc=dc2 fails, and reconnected
// they are reached again.
func TestDockerComposeFederation(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: the compose federation test needs Docker Engine and docker-compose")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd, err := composeCommand()
	if err != nil {
		t.Fatal(err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("meridiane2e%d%04d", os.Getpid(), rand.N(10000))
	tag := "meridian:" + project

	began := time.Now()
	build := exec.CommandContext(ctx, filepath.Join(root, "scripts", "docker-build.sh"), tag)
	build.Dir = root
	build.Env = append(os.Environ(), "MERIDIAN_DOCKER_CONTEXT="+t.TempDir())
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/docker-build.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = docker(context.Background(), "rmi", "-f", tag) })
	t.Logf("image %s built in %s", tag, time.Since(began).Round(time.Millisecond))

	// Subnets of this run only (parallel runs must not overlap); Docker
	// refuses an overlapping one, and then another is drawn.
	c := &compose{t: t, cmd: cmd, file: filepath.Join(root, "dist", "docker", "docker-compose.yml"), project: project}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := c.run(context.Background(), "logs", "--no-color", "--tail", "40"); err == nil {
				t.Logf("compose logs:\n%s", out)
			}
		}
		if out, err := c.run(context.Background(), "down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	began = time.Now()
	for attempt := 1; ; attempt++ {
		b := 16 + rand.N(200)
		c.env = []string{
			"MERIDIAN_IMAGE=" + tag,
			"MERIDIAN_DC1_HTTP=127.0.0.1:", "MERIDIAN_DC2_HTTP=127.0.0.1:",
			fmt.Sprintf("MERIDIAN_WAN_SUBNET=10.%d.0.0/24", b),
			fmt.Sprintf("MERIDIAN_DC1_SUBNET=10.%d.1.0/24", b),
			fmt.Sprintf("MERIDIAN_DC2_SUBNET=10.%d.2.0/24", b),
		}
		out, err := c.run(ctx, "up", "-d", "--no-build")
		if err == nil {
			break
		}
		if !strings.Contains(out, "overlap") || attempt == 5 {
			t.Fatal(err)
		}
		_, _ = c.run(ctx, "down", "-v", "--remove-orphans", "-t", "2")
	}
	t.Logf("compose up in %s", time.Since(began).Round(time.Millisecond))
	httpAddr := func(service string) string {
		out, err := c.run(ctx, "port", service, "8500")
		if err != nil {
			t.Fatal(err)
		}
		return "http://" + strings.TrimSpace(out)
	}
	dc1, dc2 := httpAddr("dc1-client"), httpAddr("dc2-client")

	began = time.Now()
	waitFor(t, 90*time.Second, "both datacenters up and federated", func() error {
		for _, a := range []string{dc1, dc2} {
			code, body, _, err := httpDo("GET", a+"/v1/catalog/datacenters", "", 5*time.Second)
			if err != nil || code != 200 || !strings.Contains(body, `"dc1"`) || !strings.Contains(body, `"dc2"`) {
				return fmt.Errorf("%s datacenters: %d %q %v", a, code, body, err)
			}
			code, body, _, err = httpDo("GET", a+"/v1/status/leader", "", 5*time.Second)
			if err != nil || code != 200 || len(body) < 5 {
				return fmt.Errorf("%s leader: %d %q %v", a, code, body, err)
			}
		}
		return nil
	})
	t.Logf("federated in %s", time.Since(began).Round(time.Millisecond))

	// A write through dc1's client for dc2 lands in dc2 only.
	waitFor(t, 30*time.Second, "write through dc1 for dc2", func() error {
		code, body, _, err := httpDo("PUT", dc1+"/v1/kv/greeting?dc=dc2", "hello from dc1", 10*time.Second)
		if err != nil || code != 200 || strings.TrimSpace(body) != "true" {
			return fmt.Errorf("%d %q %v", code, body, err)
		}
		return nil
	})
	if code, body, _, err := httpDo("GET", dc2+"/v1/kv/greeting?raw", "", 5*time.Second); err != nil || code != 200 || body != "hello from dc1" {
		t.Fatalf("dc2 reads greeting: %d %q %v", code, body, err)
	}
	if code, _, _, err := httpDo("GET", dc1+"/v1/kv/greeting", "", 5*time.Second); err != nil || code != 404 {
		t.Fatalf("dc1 has greeting of its own: %d %v", code, err)
	}

	// Cut dc2's servers off the WAN network, keeping their addresses for
	// the reconnection (the agents advertise them).
	wanNet := project + "_wan"
	type cut struct{ id, ip string }
	var cuts []cut
	for _, s := range []string{"dc2-server1", "dc2-server2", "dc2-server3"} {
		id, err := c.run(ctx, "ps", "-q", s)
		if err != nil {
			t.Fatal(err)
		}
		id = strings.TrimSpace(id)
		ip, err := docker(ctx, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+wanNet+`").IPAddress}}`, id)
		if err != nil {
			t.Fatal(err)
		}
		cuts = append(cuts, cut{id, ip})
	}
	for _, x := range cuts {
		if _, err := docker(ctx, "network", "disconnect", wanNet, x.id); err != nil {
			t.Fatal(err)
		}
	}
	cutAt := time.Now()

	// dc1 serves its own data.
	if code, body, took, err := httpDo("PUT", dc1+"/v1/kv/local", "dc1 value", 5*time.Second); err != nil || code != 200 || strings.TrimSpace(body) != "true" {
		t.Fatalf("dc1 write during the cut: %d %q %v", code, body, err)
	} else if got, val, _, err := httpDo("GET", dc1+"/v1/kv/local?raw", "", 5*time.Second); err != nil || got != 200 || val != "dc1 value" {
		t.Fatalf("dc1 read during the cut: %d %q %v", got, val, err)
	} else {
		t.Logf("dc1 write during the cut took %s", took.Round(time.Millisecond))
	}
	// ?dc=dc2 fails, and soon.
	var took []string
	for range 3 {
		code, body, d, err := httpDo("GET", dc1+"/v1/kv/greeting?dc=dc2", "", wanFailFastBound+5*time.Second)
		took = append(took, d.Round(time.Millisecond).String())
		if err != nil {
			t.Fatalf("?dc=dc2 during the cut: %v after %s", err, d)
		}
		if code == 200 || !strings.Contains(body, "No path to datacenter") {
			t.Fatalf("?dc=dc2 during the cut answered %d %q", code, body)
		}
		if d > wanFailFastBound {
			t.Fatalf("?dc=dc2 during the cut took %s (bound %s)", d, wanFailFastBound)
		}
	}
	t.Logf("?dc=dc2 during the cut failed after %s (the first %s after the cut)", strings.Join(took, ", "), time.Since(cutAt).Round(time.Millisecond))

	// Reconnected, dc2 is reached again within 30 s.
	for _, x := range cuts {
		if _, err := docker(ctx, "network", "connect", "--ip", x.ip, wanNet, x.id); err != nil {
			t.Fatal(err)
		}
	}
	healed := time.Now()
	waitFor(t, 30*time.Second, "dc2 reached again after reconnecting", func() error {
		code, body, _, err := httpDo("GET", dc1+"/v1/kv/greeting?dc=dc2&raw", "", 10*time.Second)
		if err != nil || code != 200 || body != "hello from dc1" {
			return fmt.Errorf("%d %q %v", code, body, err)
		}
		return nil
	})
	t.Logf("dc2 reached again %s after reconnecting", time.Since(healed).Round(time.Millisecond))
}

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// dig runs Debian's dig against an agent's DNS port and returns its
// output. Without dig the test is skipped, except in CI (.ci/run
// installs dnsutils).
func dig(t *testing.T, port int, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig is not installed (apt-get install dnsutils)")
		}
		t.Skip("dig is not installed (apt-get install dnsutils)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := append([]string{"@127.0.0.1", "-p", strconv.Itoa(port), "+time=3", "+tries=1"}, args...)
	out, err := exec.CommandContext(ctx, path, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// sortedLines are the non-empty lines of s, sorted.
func sortedLines(s string) []string {
	out := lines(s)
	slices.Sort(out)
	return out
}

func TestDNSWithDig(t *testing.T) {
	e := newEnv(t)
	dev := startDev(t, e, "dns1")
	reg := func(node, ip, svc string, status string) error {
		_, err := dev.API.Catalog().Register(&api.CatalogRegistration{
			Node: node, Address: ip,
			Service: &api.AgentService{ID: svc, Service: svc, Port: 8080, Tags: []string{"v1"}},
			Check:   &api.AgentCheck{CheckID: "alive-" + svc, Name: "alive", ServiceID: svc, Status: status},
		}, nil)
		return err
	}
	for i, status := range []string{api.HealthPassing, api.HealthPassing, api.HealthWarning, api.HealthCritical} {
		if err := reg(fmt.Sprintf("web-%d", i+1), fmt.Sprintf("10.1.0.%d", i+1), "web", status); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- reg(fmt.Sprintf("big-%03d", i), fmt.Sprintf("10.2.0.%d", i+1), "big", api.HealthPassing)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	port := dev.DNSPort

	if got := sortedLines(dig(t, port, "web.service.consul", "A", "+short")); !slices.Equal(got, []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}) {
		t.Errorf("A: %q, want the three healthy instances", got)
	}
	srv := sortedLines(dig(t, port, "web.service.consul", "SRV", "+short"))
	want := []string{"1 1 8080 web-1.node.dc1.consul.", "1 1 8080 web-2.node.dc1.consul.", "1 1 8080 web-3.node.dc1.consul."}
	if !slices.Equal(srv, want) {
		t.Errorf("SRV: %q, want %q", srv, want)
	}
	if got := dig(t, port, "web-4.node.consul", "+short"); strings.TrimSpace(got) != "10.1.0.4" {
		t.Errorf("node: %q", got)
	}
	if got := dig(t, port, "-x", "10.1.0.2", "+short"); strings.TrimSpace(got) != "web-2.node.dc1.consul." {
		t.Errorf("PTR: %q", got)
	}
	nx := dig(t, port, "nope.service.consul", "A")
	if !strings.Contains(nx, "status: NXDOMAIN") || !strings.Contains(nx, "AUTHORITY: 1") || !strings.Contains(nx, "IN\tSOA\tns.consul. hostmaster.consul.") {
		t.Errorf("unknown service: want NXDOMAIN with the SOA:\n%s", nx)
	}
	// dig asks with EDNS0 (1232 bytes): the answer is cut to fit with TC
	// set (+ignore keeps dig from retrying over TCP); over TCP it is whole.
	udp := dig(t, port, "big.service.consul", "SRV", "+ignore")
	if !strings.Contains(udp, " tc") || strings.Count(udp, "IN\tSRV") >= 100 {
		t.Errorf("100 instances over UDP: want TC and fewer answers:\n%s", udp)
	}
	if n := len(lines(dig(t, port, "big.service.consul", "SRV", "+tcp", "+short"))); n != 100 {
		t.Errorf("100 instances over TCP: %d answers", n)
	}
	if refused := dig(t, port, "example.com", "A"); !strings.Contains(refused, "status: REFUSED") {
		t.Errorf("a name outside the domain without recursors: want REFUSED:\n%s", refused)
	}

	// -dns-port=-1 opens no DNS port: the agent says so, and dev1's DNS
	// port stays the only one answering.
	ports := e.newPorts()
	ports.DNS = -1
	off := e.add("nodns", ports, "-dev", "-node", "nodns")
	off.start()
	e.waitHTTP(off)
	log, err := os.ReadFile(off.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "-dns-port -1") || !strings.Contains(string(log), `msg="agent started"`) ||
		!strings.Contains(string(log), `dns="" `) {
		t.Errorf("agent with -dns-port -1 did not start without DNS:\n%s", log)
	}
	// The port dev1 serves DNS on is bound.
	if pc, err := net.ListenPacket("udp", addr(port)); err == nil {
		pc.Close()
		t.Errorf("dev1's DNS port %d is not bound", port)
	}
}

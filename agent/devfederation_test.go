package agent_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/meridian-io/meridian/agent"
)

// TestDevFederationRefusesBadShapes: a federation that cannot exist is
// refused before anything starts.
func TestDevFederationRefusesBadShapes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cfg  agent.DevFederationConfig
		want string
	}{
		{agent.DevFederationConfig{Datacenters: 0, Servers: 3, Dir: dir}, "at least 1 datacenter"},
		{agent.DevFederationConfig{Datacenters: 2, Servers: 0, Dir: dir}, "at least 1 server"},
		{agent.DevFederationConfig{Datacenters: 2, Servers: 3, Clients: -1, Dir: dir}, "client agents"},
		{agent.DevFederationConfig{Datacenters: 2, Servers: 3}, "directory"},
		{agent.DevFederationConfig{Datacenters: 2, Servers: 3, Dir: dir, BasePort: 65530}, "no room"},
		{agent.DevFederationConfig{Datacenters: 2, Servers: 3, Dir: dir, BasePort: 70000}, "out of range"},
	} {
		f, err := agent.StartDevFederation(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			if f != nil {
				f.Shutdown()
			}
			t.Errorf("%+v: %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
}

func TestFreeLocalPortsAvoidTheEphemeralRange(t *testing.T) {
	lo, hi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo, &hi)
	}
	seen := map[int]bool{}
	for range 5 {
		ports, err := agent.FreeLocalPorts(20)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
			if lo-1 >= 12000 && p >= lo && p <= hi {
				t.Fatalf("port %d is in the ephemeral range %d-%d", p, lo, hi)
			}
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d not free: %v", p, err)
			}
			l.Close()
		}
	}
}

package agent_test

import (
	"context"
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

package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestKeyringAcrossDatacenters: asked of a client agent in dc1, a
// keyring operation covers the WAN pool and the LAN pool of every
// datacenter (dc2's through one of its servers), and the list has one
// entry for each, as Consul's /v1/operator/keyring.
func TestKeyringAcrossDatacenters(t *testing.T) {
	oldKey, newKey := newGossipKey(t), newGossipKey(t)
	f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 1, Clients: 1, Args: []string{"-encrypt", oldKey}})
	f.WaitRouted(20 * time.Second)
	op := client(t, f.DC("dc1").Clients()[0]).Operator()

	// pools lists each pool as "WAN" or "<dc> LAN" with its key counts.
	pools := func() (map[string]*api.KeyringResponse, error) {
		list, err := op.KeyringList(nil)
		if err != nil {
			return nil, err
		}
		out := map[string]*api.KeyringResponse{}
		for _, p := range list {
			name := p.Datacenter + " LAN"
			if p.WAN {
				name = "WAN"
			}
			out[name] = p
		}
		return out, nil
	}
	want := func(primary string, keys ...string) error {
		ps, err := pools()
		if err != nil {
			return err
		}
		var names []string
		for n := range ps {
			names = append(names, n)
		}
		sort.Strings(names)
		if fmt.Sprint(names) != "[WAN dc1 LAN dc2 LAN]" {
			return fmt.Errorf("pools %v, want WAN, dc1 LAN and dc2 LAN", names)
		}
		for n, p := range ps {
			if p.NumNodes != 2 || len(p.Keys) != len(keys) || p.PrimaryKeys[primary] != 2 {
				return fmt.Errorf("%s: %d nodes, keys %v, primary %v", n, p.NumNodes, p.Keys, p.PrimaryKeys)
			}
			for _, k := range keys {
				if p.Keys[k] != 2 {
					return fmt.Errorf("%s: key held by %d of 2 nodes", n, p.Keys[k])
				}
			}
		}
		return nil
	}
	testcluster.WaitFor(t, 20*time.Second, func() error { return want(oldKey, oldKey) })
	if err := op.KeyringInstall(newKey, nil); err != nil {
		t.Fatal(err)
	}
	if err := want(oldKey, oldKey, newKey); err != nil {
		t.Fatalf("after install: %v", err)
	}
	if err := op.KeyringUse(newKey, nil); err != nil {
		t.Fatal(err)
	}
	if err := op.KeyringRemove(oldKey, nil); err != nil {
		t.Fatal(err)
	}
	if err := want(newKey, newKey); err != nil {
		t.Fatalf("after use and remove: %v", err)
	}
}

// TestDisableKeyringFile: with disable_keyring_file the keyring stays in
// memory: a rotation writes no serf/*.keyring, and a restarted server
// starts from -encrypt again; without it the file keeps the rotation.
func TestDisableKeyringFile(t *testing.T) {
	for _, disabled := range []bool{true, false} {
		t.Run(fmt.Sprintf("disabled=%v", disabled), func(t *testing.T) {
			oldKey, newKey := newGossipKey(t), newGossipKey(t)
			args := []string{"-encrypt", oldKey}
			if disabled {
				args = append(args, "-hcl", "disable_keyring_file = true")
			}
			c := testcluster.New(t, testcluster.Options{Servers: 1, Args: args})
			srv := c.WaitForLeader(10 * time.Second)
			op := client(t, srv).Operator()
			if err := op.KeyringInstall(newKey, nil); err != nil {
				t.Fatal(err)
			}
			if err := op.KeyringUse(newKey, nil); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"local.keyring", "remote.keyring"} {
				_, err := os.Stat(filepath.Join(srv.DataDir, "serf", f))
				if exists := err == nil; exists == disabled {
					t.Errorf("serf/%s exists: %v (disable_keyring_file %v)", f, exists, disabled)
				}
			}
			c.Stop(srv)
			c.Start(srv)
			srv = c.WaitForLeader(10 * time.Second)
			want := newKey
			if disabled {
				want = oldKey
			}
			testcluster.WaitFor(t, 10*time.Second, func() error {
				list, err := client(t, srv).Operator().KeyringList(nil)
				if err != nil {
					return err
				}
				for _, p := range list {
					if p.PrimaryKeys[want] != 1 {
						return fmt.Errorf("after a restart the primary keys are %v, want %s", p.PrimaryKeys, want)
					}
				}
				return nil
			})
		})
	}
}

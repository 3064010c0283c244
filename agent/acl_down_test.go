package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/dc"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// TestACLDownPolicy cuts the primary datacenter off (its server stops)
// and checks that dc2 resolves global tokens as acl.down_policy says,
// within a few replication intervals: deny refuses a global token that
// worked a moment before (a token local to dc2 still works), allow lets
// even the anonymous token write; once the primary is back, tokens
// resolve from their policies again.
func TestACLDownPolicy(t *testing.T) {
	for _, policy := range []string{"deny", "allow"} {
		t.Run(policy, func(t *testing.T) {
			const root, interval = "down-root-secret", 300 * time.Millisecond
			f := testcluster.NewFederation(t, 2, testcluster.Options{Servers: 1,
				Args: []string{"-hcl", `primary_datacenter = "dc1"
acl {
  enabled = true
  default_policy = "deny"
  down_policy = "` + policy + `"
  tokens { initial_management = "` + root + `" replication = "` + root + `" }
}`},
				Tune: func(c *dc.Config) { c.ACL.ReplicationInterval = interval },
			})
			dc1, dc2 := f.DC("dc1").Servers()[0], f.DC("dc2").Servers()[0]
			admin1, admin2 := tokenClient(t, dc1, root), tokenClient(t, dc2, root)
			if _, _, err := admin1.ACL().PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, nil); err != nil {
				t.Fatal(err)
			}
			global, _, err := admin1.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			put := func(token, key string) error {
				_, err := tokenClient(t, dc2, token).KV().Put(&api.KVPair{Key: key, Value: []byte("v")}, nil)
				return err
			}
			testcluster.WaitFor(t, 10*time.Second, func() error { return put(global.SecretID, "app/x") })
			local, _, err := admin2.ACL().TokenCreate(&api.ACLToken{Local: true, Policies: []*api.ACLTokenPolicyLink{{Name: "app"}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := put("", "other/x"); !isDenied(err) {
				t.Fatalf("anonymous write with the primary up: %v", err)
			}

			f.DC("dc1").Stop(dc1)
			start := time.Now()
			switch policy {
			case "deny":
				testcluster.WaitFor(t, 10*time.Second, func() error {
					if err := put(global.SecretID, "app/x"); !isDenied(err) {
						return fmt.Errorf("a global token with the primary down: %v, want 403", err)
					}
					return nil
				})
				if err := put(local.SecretID, "app/local"); err != nil {
					t.Fatalf("a token local to dc2 with the primary down: %v", err)
				}
			case "allow":
				testcluster.WaitFor(t, 10*time.Second, func() error { return put("", "other/x") })
				if err := put(global.SecretID, "other/y"); err != nil {
					t.Fatalf("a global token outside its policy with the primary down: %v", err)
				}
				if _, _, err := tokenClient(t, dc2, global.SecretID).ACL().TokenList(nil); !isDenied(err) {
					t.Fatalf("ACL management with down_policy allow: %v", err)
				}
			}
			t.Logf("down_policy %s in force %v after the primary stopped (replication interval %v)", policy, time.Since(start), interval)

			f.DC("dc1").Start(dc1)
			testcluster.WaitFor(t, 20*time.Second, func() error {
				if err := put(global.SecretID, "app/back"); err != nil {
					return err
				}
				if err := put("", "other/z"); !isDenied(err) {
					return fmt.Errorf("anonymous write with the primary back: %v", err)
				}
				return nil
			})
		})
	}
}

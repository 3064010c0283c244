package config

import (
	"slices"
	"strings"
	"testing"
)

func TestKVReplicationBlock(t *testing.T) {
	dir := t.TempDir()
	hcl := `kv_replication {
  source_datacenter = "dc1"
  prefixes = ["app/", "shared/"]
  exclude = ["app/secret/"]
}`
	c, warnings := mustLoad(t, "-server", "-datacenter", "dc2", "-data-dir", dir, "-hcl", hcl)
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	k := c.KVReplication
	if k.SourceDatacenter != "dc1" || !slices.Equal(k.Prefixes, []string{"app/", "shared/"}) || !slices.Equal(k.Exclude, []string{"app/secret/"}) {
		t.Fatalf("kv_replication = %+v", k)
	}
	file := writeFile(t, dir, "r.json", `{"kv_replication": {"source_datacenter": "dc1", "prefixes": ["cfg/"]}}`)
	c, _ = mustLoad(t, "-server", "-datacenter", "dc2", "-data-dir", dir, "-config-file", file)
	if k := c.KVReplication; k.SourceDatacenter != "dc1" || !slices.Equal(k.Prefixes, []string{"cfg/"}) || k.Exclude != nil {
		t.Fatalf("from JSON: %+v", k)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-server", "-datacenter", "dc2", "-hcl", `kv_replication { prefixes = ["a/"] }`}, "source_datacenter is required"},
		{[]string{"-datacenter", "dc2", "-hcl", `kv_replication { source_datacenter = "dc1" prefixes = ["a/"] }`}, "requires 'server = true'"},
		{[]string{"-server", "-datacenter", "dc1", "-hcl", `kv_replication { source_datacenter = "dc1" prefixes = ["a/"] }`}, "own datacenter"},
		{[]string{"-server", "-datacenter", "dc2", "-hcl", `kv_replication { source_datacenter = "dc1" }`}, "at least one prefix"},
		{[]string{"-server", "-datacenter", "dc2", "-hcl", `kv_replication { source_datacenter = "dc1" prefixes = [""] }`}, "every key"},
		{[]string{"-server", "-datacenter", "dc2", "-hcl", `kv_replication { source_datacenter = "dc1" prefixes = ["a/"] exclude = ["b/"] }`}, "under no replicated prefix"},
		{[]string{"-server", "-datacenter", "dc2", "-hcl", `kv_replication { source_datacenter = "dc1" prefixes = ["a/"] bogus = 1 }`}, "bogus"},
	} {
		err := loadErr(t, append(tc.args, "-data-dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

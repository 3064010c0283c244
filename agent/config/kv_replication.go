package config

import (
	"fmt"
	"slices"
	"strings"
)

// KVReplication is the kv_replication block of a server: this
// datacenter's leader follows the KV keys under Prefixes, but not under
// Exclude, of SourceDatacenter, and local writes there are refused. An
// empty SourceDatacenter disables it.
type KVReplication struct {
	SourceDatacenter string
	Prefixes         []string
	Exclude          []string
}

func (k KVReplication) clone() KVReplication {
	k.Prefixes = slices.Clone(k.Prefixes)
	k.Exclude = slices.Clone(k.Exclude)
	return k
}

// partialKVReplication is one source's kv_replication; a later source's
// lists replace an earlier one's.
type partialKVReplication struct {
	SourceDatacenter *string
	Prefixes         []string
	Exclude          []string
}

func (p *partialKVReplication) apply(k *KVReplication) {
	set(&k.SourceDatacenter, p.SourceDatacenter)
	if p.Prefixes != nil {
		k.Prefixes = slices.Clone(p.Prefixes)
	}
	if p.Exclude != nil {
		k.Exclude = slices.Clone(p.Exclude)
	}
}

var kvReplicationObject = object[partialKVReplication]{
	keys: map[string]keyFunc[partialKVReplication]{
		"source_datacenter": opt(toString, func(p *partialKVReplication) **string { return &p.SourceDatacenter }),
		"prefixes":          appendStrings(func(p *partialKVReplication) *[]string { return &p.Prefixes }),
		"exclude":           appendStrings(func(p *partialKVReplication) *[]string { return &p.Exclude }),
	},
}

// validateKVReplication checks the kv_replication block.
func validateKVReplication(c *Config) error {
	k := c.KVReplication
	if k.SourceDatacenter == "" {
		if len(k.Prefixes) > 0 || len(k.Exclude) > 0 {
			return fmt.Errorf("kv_replication.source_datacenter is required")
		}
		return nil
	}
	switch {
	case !c.Server:
		return fmt.Errorf("kv_replication requires 'server = true'")
	case k.SourceDatacenter == c.Datacenter:
		return fmt.Errorf("kv_replication.source_datacenter %q is this agent's own datacenter", k.SourceDatacenter)
	case len(k.Prefixes) == 0:
		return fmt.Errorf("kv_replication.prefixes: at least one prefix is required")
	case slices.Contains(k.Prefixes, ""):
		return fmt.Errorf(`kv_replication.prefixes: "" would replicate every key; name the prefixes`)
	}
	for _, x := range k.Exclude {
		if x == "" || !slices.ContainsFunc(k.Prefixes, func(p string) bool { return strings.HasPrefix(x, p) }) {
			return fmt.Errorf("kv_replication.exclude %q is under no replicated prefix", x)
		}
	}
	return nil
}

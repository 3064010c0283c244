package acl

import (
	"sort"
	"strings"
)

// Authorizer answers whether a token may do something. It is immutable
// once built and safe for concurrent use.
type Authorizer struct {
	manage       bool
	defaultAllow bool
	segments     map[Resource]*segmentTable
	singles      map[Resource]Access
}

// segmentTable holds one resource's merged rules.
type segmentTable struct {
	exact map[string]Access
	// prefixes sorted longest first.
	prefixes []prefixRule
}

type prefixRule struct {
	prefix string
	access Access
}

// ManageAll is the authorizer of a management token (the bootstrap token,
// acl.tokens.initial_management): everything is allowed.
func ManageAll() *Authorizer { return manageAll }

// manageAll is shared: an Authorizer never changes once built.
var manageAll = &Authorizer{manage: true, defaultAllow: true}

// AllowAll is the authorizer of the "allow" default policy with no
// rules: everything but ACL management is allowed (Consul's AllowAll).
func AllowAll() *Authorizer { return &Authorizer{defaultAllow: true} }

// DenyAll denies everything.
func DenyAll() *Authorizer { return &Authorizer{} }

// NewAuthorizer merges policies into one authorizer over the default
// policy (allow when defaultAllow). Where two policies name the same
// segment, deny wins over write, write over list, list over read.
func NewAuthorizer(defaultAllow bool, policies ...*Policy) *Authorizer {
	a := &Authorizer{defaultAllow: defaultAllow, segments: map[Resource]*segmentTable{}, singles: map[Resource]Access{}}
	prefixes := map[Resource]map[string]Access{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, r := range p.Rules {
			if r.Name == "" && !r.Prefix {
				if isSingle(r.Resource) {
					if r.Access.precedes(a.singles[r.Resource]) {
						a.singles[r.Resource] = r.Access
					}
					continue
				}
			}
			t := a.segments[r.Resource]
			if t == nil {
				t = &segmentTable{exact: map[string]Access{}}
				a.segments[r.Resource] = t
				prefixes[r.Resource] = map[string]Access{}
			}
			if r.Prefix {
				if r.Access.precedes(prefixes[r.Resource][r.Name]) {
					prefixes[r.Resource][r.Name] = r.Access
				}
				continue
			}
			if r.Access.precedes(t.exact[r.Name]) {
				t.exact[r.Name] = r.Access
			}
		}
	}
	for res, m := range prefixes {
		t := a.segments[res]
		for p, acc := range m {
			t.prefixes = append(t.prefixes, prefixRule{p, acc})
		}
		sort.Slice(t.prefixes, func(i, j int) bool {
			if len(t.prefixes[i].prefix) != len(t.prefixes[j].prefix) {
				return len(t.prefixes[i].prefix) > len(t.prefixes[j].prefix)
			}
			return t.prefixes[i].prefix < t.prefixes[j].prefix
		})
	}
	return a
}

func isSingle(r Resource) bool {
	for _, s := range single {
		if s == r {
			return true
		}
	}
	return false
}

// IsManagement reports whether the authorizer allows everything.
func (a *Authorizer) IsManagement() bool { return a.manage }

// DefaultAllow reports the default policy under the rules.
func (a *Authorizer) DefaultAllow() bool { return a.defaultAllow }

// rule returns the level of the rule that governs name: an exact rule,
// else the longest matching prefix; AccessUnset when none does.
func (a *Authorizer) rule(res Resource, name string) Access {
	if isSingle(res) {
		return a.singles[res]
	}
	t := a.segments[res]
	if t == nil {
		return AccessUnset
	}
	if acc, ok := t.exact[name]; ok {
		return acc
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.access
		}
	}
	return AccessUnset
}

// Allowed reports whether the operation needing level need on name of res
// is allowed.
func (a *Authorizer) Allowed(res Resource, name string, need Access) bool {
	if a == nil {
		return false
	}
	if a.manage {
		return true
	}
	if acc := a.rule(res, name); acc != AccessUnset {
		return acc.grants(need)
	}
	return a.defaultFor(res)
}

// defaultFor is what the default policy gives res: ACL management needs
// a rule or a management token even when the default is allow.
func (a *Authorizer) defaultFor(res Resource) bool {
	return a.defaultAllow && res != ResourceACL
}

// KeyWritePrefix reports whether every key under prefix may be written
// (a recursive delete): the rule governing prefix grants write and no
// rule under it grants less (Consul's KeyWritePrefix).
func (a *Authorizer) KeyWritePrefix(prefix string) bool {
	if a == nil {
		return false
	}
	if a.manage {
		return true
	}
	if t := a.segments[ResourceKey]; t != nil {
		for name, acc := range t.exact {
			if strings.HasPrefix(name, prefix) && acc != AccessWrite {
				return false
			}
		}
		for _, p := range t.prefixes {
			if strings.HasPrefix(p.prefix, prefix) && p.access != AccessWrite {
				return false
			}
		}
	}
	return a.Allowed(ResourceKey, prefix, AccessWrite)
}

// KeyReadPrefix reports whether every key under prefix may be read (a
// replication of the prefix): the rule governing prefix grants read and
// no rule under it denies.
func (a *Authorizer) KeyReadPrefix(prefix string) bool {
	if a == nil {
		return false
	}
	if a.manage {
		return true
	}
	if t := a.segments[ResourceKey]; t != nil {
		for name, acc := range t.exact {
			if strings.HasPrefix(name, prefix) && !acc.grants(AccessRead) {
				return false
			}
		}
		for _, p := range t.prefixes {
			if strings.HasPrefix(p.prefix, prefix) && !p.access.grants(AccessRead) {
				return false
			}
		}
	}
	return a.Allowed(ResourceKey, prefix, AccessRead)
}

// Everything is a policy granting level on every resource but ACL
// management: the rules of AllowAll (write) or DenyAll (deny) in a form
// that travels as text.
func Everything(level Access) *Policy {
	p := &Policy{}
	for _, r := range segmented {
		p.Rules = append(p.Rules, Rule{Resource: r, Prefix: true, Access: level})
	}
	for _, r := range single {
		if r != ResourceACL {
			p.Rules = append(p.Rules, Rule{Resource: r, Access: level})
		}
	}
	return p
}

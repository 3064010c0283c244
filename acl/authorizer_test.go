package acl

import "testing"

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthorizerLongestPrefix(t *testing.T) {
	a := NewAuthorizer(false,
		mustParse(t, `
key_prefix "" { policy = "read" }
key_prefix "app/" { policy = "write" }
key_prefix "app/secret/" { policy = "deny" }
key "app/secret/open" { policy = "read" }
key_prefix "list/" { policy = "list" }
service_prefix "" { policy = "read" }
service "web" { policy = "write" }
operator = "read"
`))
	cases := []struct {
		res  Resource
		name string
		need Access
		want bool
	}{
		{ResourceKey, "other/x", AccessRead, true},
		{ResourceKey, "other/x", AccessWrite, false},
		{ResourceKey, "other/x", AccessList, false},
		{ResourceKey, "app/x", AccessWrite, true},
		{ResourceKey, "app/x", AccessList, true},
		{ResourceKey, "app/secret/x", AccessRead, false},
		{ResourceKey, "app/secret/open", AccessRead, true},   // exact beats prefix
		{ResourceKey, "app/secret/open", AccessWrite, false}, // read only
		{ResourceKey, "list/a", AccessList, true},
		{ResourceKey, "list/a", AccessRead, true},
		{ResourceKey, "list/a", AccessWrite, false},
		{ResourceService, "web", AccessWrite, true},
		{ResourceService, "web2", AccessWrite, false}, // "service" is exact
		{ResourceService, "db", AccessRead, true},
		{ResourceNode, "n1", AccessRead, false}, // default deny
		{ResourceOperator, "", AccessRead, true},
		{ResourceOperator, "", AccessWrite, false},
		{ResourceACL, "", AccessRead, false},
	}
	for _, c := range cases {
		if got := a.Allowed(c.res, c.name, c.need); got != c.want {
			t.Errorf("Allowed(%s, %q, %s) = %v, want %v", c.res, c.name, c.need, got, c.want)
		}
	}
}

func TestAuthorizerMergeAndDefaults(t *testing.T) {
	read := mustParse(t, `key_prefix "a/" { policy = "read" }`)
	write := mustParse(t, `key_prefix "a/" { policy = "write" }`)
	deny := mustParse(t, `key_prefix "a/" { policy = "deny" }`)
	if !NewAuthorizer(false, read, write).Allowed(ResourceKey, "a/x", AccessWrite) {
		t.Error("write should win over read")
	}
	if NewAuthorizer(false, write, deny).Allowed(ResourceKey, "a/x", AccessRead) {
		t.Error("deny should win over write")
	}
	allow := NewAuthorizer(true, read)
	if !allow.Allowed(ResourceKey, "b/x", AccessWrite) || allow.Allowed(ResourceKey, "a/x", AccessWrite) {
		t.Error("default allow: uncovered keys writable, covered ones per rule")
	}
	if allow.Allowed(ResourceACL, "", AccessRead) || AllowAll().Allowed(ResourceACL, "", AccessWrite) {
		t.Error("default allow never grants ACL management")
	}
	if !AllowAll().Allowed(ResourceOperator, "", AccessWrite) || DenyAll().Allowed(ResourceKey, "", AccessRead) {
		t.Error("static authorizers")
	}
	if !ManageAll().Allowed(ResourceACL, "", AccessWrite) || !ManageAll().IsManagement() {
		t.Error("management allows ACL writes")
	}
	var nilAuthz *Authorizer
	if nilAuthz.Allowed(ResourceKey, "x", AccessRead) || nilAuthz.KeyWritePrefix("") {
		t.Error("a nil authorizer allows nothing")
	}
}

func TestKeyWritePrefix(t *testing.T) {
	a := NewAuthorizer(false, mustParse(t, `
key_prefix "app/" { policy = "write" }
key "app/locked" { policy = "read" }
key_prefix "tmp/" { policy = "write" }
`))
	cases := map[string]bool{
		"app/":    false, // app/locked is read-only
		"app/sub": true,
		"tmp/":    true,
		"":        false,
		"other/":  false,
	}
	for prefix, want := range cases {
		if got := a.KeyWritePrefix(prefix); got != want {
			t.Errorf("KeyWritePrefix(%q) = %v, want %v", prefix, got, want)
		}
	}
	if !NewAuthorizer(true).KeyWritePrefix("") {
		t.Error("default allow with no rules writes everything")
	}
}

func TestKeyReadPrefix(t *testing.T) {
	a := NewAuthorizer(false, mustParse(t, `
key_prefix "app/" { policy = "read" }
key "app/secret" { policy = "deny" }
key_prefix "cfg/" { policy = "list" }
key_prefix "cfg/private/" { policy = "deny" }
`))
	cases := map[string]bool{
		"app/":     false, // app/secret is denied
		"app/sub/": true,
		"cfg/pub/": true,
		"cfg/":     false,
		"":         false,
	}
	for prefix, want := range cases {
		if got := a.KeyReadPrefix(prefix); got != want {
			t.Errorf("KeyReadPrefix(%q) = %v, want %v", prefix, got, want)
		}
	}
	if !NewAuthorizer(true).KeyReadPrefix("") || DenyAll().KeyReadPrefix("x") {
		t.Error("default policies")
	}
}

func TestEverythingRoundTrips(t *testing.T) {
	for _, level := range []Access{AccessWrite, AccessDeny} {
		p, err := Parse(Everything(level).String())
		if err != nil {
			t.Fatal(err)
		}
		z := NewAuthorizer(level == AccessDeny, p)
		for _, r := range append(append([]Resource{}, segmented...), single...) {
			want := level == AccessWrite && r != ResourceACL
			if got := z.Allowed(r, "any/name", AccessWrite); got != want {
				t.Errorf("Everything(%s): %s write = %v, want %v", level, r, got, want)
			}
		}
	}
}

package acl

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary text to the rule parser: it returns a policy
// or an ErrInvalidRules error, never panics, and a parsed policy written
// back with String parses to the same rules.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`key_prefix "app/" { policy = "write" }`,
		`{"key_prefix": {"app/": {"policy": "write"}}}`,
		`operator = "read"`,
		`service "web" { policy = "write" intentions = "read" }`,
		`key_prefix = { "a/" = { policy = "read" } }`,
		`{"node": {"": {"policy": "deny"}}, "acl": "write"}`,
		`key "a" {`, `{"key": [`, "\x00", `"\u0000"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			if !errors.Is(err, ErrInvalidRules) {
				t.Fatalf("error %v does not wrap ErrInvalidRules", err)
			}
			return
		}
		back, err := Parse(p.String())
		if err != nil {
			t.Fatalf("rules %q written back as %q do not parse: %v", src, p.String(), err)
		}
		if back.String() != p.String() {
			t.Fatalf("round trip: %q became %q", p.String(), back.String())
		}
		NewAuthorizer(false, p).Allowed(ResourceKey, "a/b", AccessRead)
	})
}

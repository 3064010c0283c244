package acl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseHCLAndJSONAgree(t *testing.T) {
	cases := []struct{ name, hcl, json, want string }{
		{"key prefix", `key_prefix "app/" { policy = "write" }`, `{"key_prefix": {"app/": {"policy": "write"}}}`,
			`key_prefix "app/" { policy = "write" }`},
		{"exact key", `key "app/x" { policy = "list" }`, `{"key": {"app/x": {"policy": "list"}}}`,
			`key "app/x" { policy = "list" }`},
		{"singles", "operator = \"read\"\nacl = \"write\"\nkeyring = \"deny\"", `{"operator": "read", "acl": "write", "keyring": "deny"}`,
			"acl = \"write\"\nkeyring = \"deny\"\noperator = \"read\""},
		{"many", `
service_prefix "" { policy = "read" }
service "web" { policy = "write" intentions = "read" }
node_prefix "n" { policy = "deny" }
session_prefix "" { policy = "write" }
event_prefix "deploy" { policy = "write" }
query_prefix "" { policy = "read" }
agent_prefix "" { policy = "read" }
agent "a1" { policy = "write" }`,
			`{"service_prefix": {"": {"policy": "read"}}, "service": {"web": {"policy": "write", "intentions": "read"}},
			  "node_prefix": {"n": {"policy": "deny"}}, "session_prefix": {"": {"policy": "write"}},
			  "event_prefix": {"deploy": {"policy": "write"}}, "query_prefix": {"": {"policy": "read"}},
			  "agent_prefix": {"": {"policy": "read"}}, "agent": {"a1": {"policy": "write"}}}`,
			strings.Join([]string{
				`agent "a1" { policy = "write" }`,
				`agent_prefix "" { policy = "read" }`,
				`event_prefix "deploy" { policy = "write" }`,
				`node_prefix "n" { policy = "deny" }`,
				`query_prefix "" { policy = "read" }`,
				`service "web" { policy = "write" }`,
				`service_prefix "" { policy = "read" }`,
				`session_prefix "" { policy = "write" }`,
			}, "\n")},
		{"two prefixes one block", `key_prefix = { "a/" = { policy = "read" }, "b/" = { policy = "deny" } }`,
			`{"key_prefix": {"a/": {"policy": "read"}, "b/": {"policy": "deny"}}}`,
			"key_prefix \"a/\" { policy = \"read\" }\nkey_prefix \"b/\" { policy = \"deny\" }"},
		{"empty", "", "{}", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, src := range []string{c.hcl, c.json} {
				p, err := Parse(src)
				if err != nil {
					t.Fatalf("Parse(%q): %v", src, err)
				}
				if got := p.String(); got != c.want {
					t.Errorf("Parse(%q) =\n%s\nwant\n%s", src, got, c.want)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, src := range []string{
		`key_prefix "app/" { policy = "admin" }`,
		`service "web" { policy = "list" }`, // list is for keys only
		`operator = "list"`,
		`bogus "x" { policy = "read" }`,
		`key_prefix "a/" { policy = "read" colour = "red" }`,
		`key_prefix "a/" "b/" { policy = "read" }`,
		`key_prefix "a/" = "read"`,
		`operator { policy = "read" }`,
		`operator = 3`,
		`key_prefix "a/" { policy = "read"`,
		`{"key_prefix": [1, 2]}`,
		`service "web" { policy = "read" intentions = "banana" }`,
		`key "x" { policy = "read" intentions = "read" }`,
		strings.Repeat("x", MaxRulesSize+1),
	} {
		if p, err := Parse(src); !errors.Is(err, ErrInvalidRules) {
			t.Errorf("Parse(%.60q) = %v, %v; want ErrInvalidRules", src, p, err)
		}
	}
}

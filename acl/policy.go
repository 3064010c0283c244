package acl

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
)

// Access is a rule's level. The zero value is "no rule".
type Access uint8

const (
	// AccessUnset means no rule matched: the search goes on.
	AccessUnset Access = iota
	// AccessDeny refuses everything and stops the search.
	AccessDeny
	// AccessRead allows reads.
	AccessRead
	// AccessList allows reads and listing (key_prefix only).
	AccessList
	// AccessWrite allows reads, listing and writes.
	AccessWrite
)

func (a Access) String() string {
	switch a {
	case AccessDeny:
		return "deny"
	case AccessRead:
		return "read"
	case AccessList:
		return "list"
	case AccessWrite:
		return "write"
	}
	return ""
}

// grants reports whether a rule of level a allows an operation that needs
// level need (Consul's enforce).
func (a Access) grants(need Access) bool {
	switch a {
	case AccessWrite:
		return true
	case AccessList:
		return need == AccessList || need == AccessRead
	case AccessRead:
		return need == AccessRead
	}
	return false
}

// precedes reports whether a takes precedence over b when two policies of
// one token name the same segment: deny, then write, then list, then read.
func (a Access) precedes(b Access) bool {
	rank := func(x Access) int {
		switch x {
		case AccessDeny:
			return 4
		case AccessWrite:
			return 3
		case AccessList:
			return 2
		case AccessRead:
			return 1
		}
		return 0
	}
	return rank(a) > rank(b)
}

// Resource is a kind of thing rules grant access to.
type Resource string

// The resources of Consul's rule language that Meridian enforces.
const (
	ResourceKey      Resource = "key"
	ResourceService  Resource = "service"
	ResourceNode     Resource = "node"
	ResourceSession  Resource = "session"
	ResourceEvent    Resource = "event"
	ResourceQuery    Resource = "query"
	ResourceAgent    Resource = "agent"
	ResourceOperator Resource = "operator"
	ResourceACL      Resource = "acl"
	ResourceKeyring  Resource = "keyring"
)

// segmented are the resources whose rules name a segment (exact or
// prefix); the others take one level for everything.
var segmented = []Resource{ResourceKey, ResourceService, ResourceNode, ResourceSession, ResourceEvent, ResourceQuery, ResourceAgent}

// single are the resources with one level each.
var single = []Resource{ResourceOperator, ResourceACL, ResourceKeyring}

// Rule grants Access to the segment Name of Resource (every name starting
// with Name when Prefix), or to the whole Resource when it is unsegmented.
type Rule struct {
	Resource Resource
	Name     string
	Prefix   bool
	Access   Access
}

// Policy is a parsed set of rules, in the order they were written.
type Policy struct {
	Rules []Rule
}

// ErrInvalidRules is wrapped by every error Parse returns.
var ErrInvalidRules = errors.New("invalid ACL rules")

// MaxRulesSize bounds the rules text Parse accepts.
const MaxRulesSize = 128 << 10

// Parse reads rules in Consul's language, HCL or JSON. Bad input is an
// error wrapping ErrInvalidRules, never a panic.
func Parse(rules string) (p *Policy, err error) {
	if len(rules) > MaxRulesSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidRules, len(rules), MaxRulesSize)
	}
	defer func() {
		// The HCL parser is not ours: whatever it does with hostile
		// input, the caller gets an error.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %v", ErrInvalidRules, r)
		}
	}()
	p = &Policy{}
	if strings.TrimSpace(rules) == "" {
		return p, nil
	}
	file, err := hcl.Parse(rules)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRules, err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("%w: not an object", ErrInvalidRules)
	}
	for _, item := range list.Items {
		if err := p.addItem(item); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidRules, err)
		}
	}
	return p, nil
}

// addItem adds the rules of one top-level item: `operator = "read"`,
// `key_prefix "a/" { policy = "read" }`, or its JSON form (an object whose
// keys are the segments).
func (p *Policy) addItem(item *ast.ObjectItem) error {
	if len(item.Keys) == 0 {
		return errors.New("item without a name")
	}
	name := item.Keys[0].Token.Value()
	kind, _ := name.(string)
	for _, r := range single {
		if kind == string(r) {
			if len(item.Keys) != 1 {
				return fmt.Errorf("%s takes a policy, not a block", kind)
			}
			acc, err := literalPolicy(item.Val, false)
			if err != nil {
				return fmt.Errorf("%s: %v", kind, err)
			}
			p.Rules = append(p.Rules, Rule{Resource: r, Access: acc})
			return nil
		}
	}
	res, prefix := Resource(strings.TrimSuffix(kind, "_prefix")), strings.HasSuffix(kind, "_prefix")
	if !slices.Contains(segmented, res) {
		return fmt.Errorf("unknown rule %q", kind)
	}
	segKeys := item.Keys[1:]
	if len(segKeys) > 1 {
		return fmt.Errorf("%s: one name per rule", kind)
	}
	if len(segKeys) == 1 {
		seg, ok := segKeys[0].Token.Value().(string)
		if !ok {
			return fmt.Errorf("%s: the name must be a string", kind)
		}
		return p.addSegment(res, seg, prefix, item.Val)
	}
	// JSON, or HCL written as key_prefix = { "a/" = { policy = "read" } }:
	// an object of segments.
	obj, ok := item.Val.(*ast.ObjectType)
	if !ok {
		return fmt.Errorf("%s: expected a block of names", kind)
	}
	for _, sub := range obj.List.Items {
		if len(sub.Keys) != 1 {
			return fmt.Errorf("%s: one name per rule", kind)
		}
		seg, ok := sub.Keys[0].Token.Value().(string)
		if !ok {
			return fmt.Errorf("%s: the name must be a string", kind)
		}
		if err := p.addSegment(res, seg, prefix, sub.Val); err != nil {
			return err
		}
	}
	return nil
}

func (p *Policy) addSegment(res Resource, seg string, prefix bool, val ast.Node) error {
	kind := string(res)
	if prefix {
		kind += "_prefix"
	}
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return fmt.Errorf("%s %q: expected a block", kind, seg)
	}
	var body struct {
		Policy     string `hcl:"policy"`
		Intentions string `hcl:"intentions"`
	}
	for _, f := range obj.List.Items {
		if len(f.Keys) != 1 {
			return fmt.Errorf("%s %q: unexpected block", kind, seg)
		}
		switch k, _ := f.Keys[0].Token.Value().(string); k {
		case "policy", "intentions":
		default:
			return fmt.Errorf("%s %q: unknown field %q", kind, seg, k)
		}
	}
	if err := hcl.DecodeObject(&body, obj); err != nil {
		return fmt.Errorf("%s %q: %v", kind, seg, err)
	}
	acc, err := parseAccess(body.Policy, res == ResourceKey)
	if err != nil {
		return fmt.Errorf("%s %q: %v", kind, seg, err)
	}
	if body.Intentions != "" {
		if _, err := parseAccess(body.Intentions, false); err != nil || res != ResourceService {
			return fmt.Errorf("%s %q: invalid intentions %q", kind, seg, body.Intentions)
		}
	}
	p.Rules = append(p.Rules, Rule{Resource: res, Name: seg, Prefix: prefix, Access: acc})
	return nil
}

// literalPolicy reads `x = "read"`.
func literalPolicy(val ast.Node, allowList bool) (Access, error) {
	lit, ok := val.(*ast.LiteralType)
	if !ok {
		return 0, errors.New("expected a policy string")
	}
	s, ok := lit.Token.Value().(string)
	if !ok {
		return 0, errors.New("expected a policy string")
	}
	return parseAccess(s, allowList)
}

func parseAccess(s string, allowList bool) (Access, error) {
	switch s {
	case "read":
		return AccessRead, nil
	case "write":
		return AccessWrite, nil
	case "deny":
		return AccessDeny, nil
	case "list":
		if allowList {
			return AccessList, nil
		}
	}
	return 0, fmt.Errorf("invalid policy %q", s)
}

// String writes the policy back in HCL, one rule a line, sorted.
func (p *Policy) String() string {
	var lines []string
	for _, r := range p.Rules {
		if r.Name == "" && !r.Prefix && slices.Contains(single, r.Resource) {
			lines = append(lines, fmt.Sprintf("%s = %q", r.Resource, r.Access))
			continue
		}
		kind := string(r.Resource)
		if r.Prefix {
			kind += "_prefix"
		}
		lines = append(lines, fmt.Sprintf("%s %q { policy = %q }", kind, r.Name, r.Access))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

package dc

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
	"github.com/meridian-io/meridian/rpc"
	"github.com/meridian-io/meridian/store"
)

// templateVars are what a template's ${...} expressions may name.
type templateVars struct {
	full, prefix, suffix string
	// matches are the template regexp's match against the full name:
	// the whole match, then each group (empty without a regexp).
	matches []string
}

// interpolate replaces every ${expr} of s: name.full, name.prefix,
// name.suffix, match(N) (empty when the regexp has no such group) and
// agent.segment (always empty). Anything else is an error.
func interpolate(s string, v templateVars) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		b.WriteString(s[:start])
		expr := strings.TrimSpace(s[start+2 : start+end])
		val, err := v.eval(expr)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		s = s[start+end+1:]
	}
}

func (v templateVars) eval(expr string) (string, error) {
	switch expr {
	case "name.full":
		return v.full, nil
	case "name.prefix":
		return v.prefix, nil
	case "name.suffix":
		return v.suffix, nil
	case "agent.segment":
		return "", nil
	}
	if arg, ok := strings.CutPrefix(expr, "match("); ok {
		if arg, ok = strings.CutSuffix(arg, ")"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(arg))
			if err != nil || n < 0 {
				return "", fmt.Errorf("bad match index in ${%s}", expr)
			}
			if n < len(v.matches) {
				return v.matches[n], nil
			}
			return "", nil
		}
	}
	return "", fmt.Errorf("unknown variable ${%s}", expr)
}

// renderQuery fills in a template for the name it is executed by; any
// other query is returned as it is. The stored query is not modified.
func renderQuery(q *pb.PreparedQuery, name string) (*pb.PreparedQuery, error) {
	t := q.GetTemplate()
	if t.GetType() == "" {
		return q, nil
	}
	v := templateVars{full: name, prefix: q.Name}
	if len(name) >= len(q.Name) && strings.EqualFold(name[:len(q.Name)], q.Name) {
		v.suffix = name[len(q.Name):]
	}
	if t.Regexp != "" {
		re, err := regexp.Compile(t.Regexp)
		if err != nil {
			return nil, fmt.Errorf("Bad Regexp: %v", err)
		}
		v.matches = re.FindStringSubmatch(name)
	}
	out := proto.Clone(q).(*pb.PreparedQuery)
	var firstErr error
	sub := func(s string) string {
		r, err := interpolate(s, v)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return r
	}
	subAll := func(list []string, dropEmpty bool) []string {
		res := list[:0]
		for _, s := range list {
			if s = sub(s); s != "" || !dropEmpty {
				res = append(res, s)
			}
		}
		return res
	}
	subMap := func(m map[string]string) {
		for k, val := range m {
			m[k] = sub(val)
		}
	}
	if svc := out.Service; svc != nil {
		svc.Service = sub(svc.Service)
		svc.Near = sub(svc.Near)
		svc.Tags = subAll(svc.Tags, t.RemoveEmptyTags)
		svc.IgnoreCheckIds = subAll(svc.IgnoreCheckIds, false)
		subMap(svc.NodeMeta)
		subMap(svc.ServiceMeta)
		if f := svc.Failover; f != nil {
			f.Datacenters = subAll(f.Datacenters, true)
		}
	}
	if d := out.Dns; d != nil {
		d.Ttl = sub(d.Ttl)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// validatePreparedQuery refuses a query that could never execute, with
// Consul's messages where it has them.
func validatePreparedQuery(q *pb.PreparedQuery) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{rpc.ErrBadRequest}, args...)...)
	}
	if q == nil {
		return bad("Must provide a query")
	}
	switch q.GetTemplate().GetType() {
	case "":
		if q.GetTemplate().GetRegexp() != "" {
			return bad("Template.Regexp set without Template.Type")
		}
	case store.TemplateNamePrefixMatch:
		if q.Name == "" {
			return bad("A template needs a Name: the prefix of the names it matches")
		}
		if _, err := regexp.Compile(q.Template.Regexp); err != nil {
			return bad("Bad Regexp: %v", strings.ReplaceAll(err.Error(), "\n", " "))
		}
	default:
		return bad("Bad Template.Type '%s'", q.Template.Type)
	}
	if q.GetService().GetService() == "" {
		return bad("Must provide a Service name to query")
	}
	if n := q.GetService().GetFailover().GetNearestN(); n < 0 {
		return bad("Bad NearestN '%d', must be >= 0", n)
	}
	for _, dc := range q.GetService().GetFailover().GetDatacenters() {
		if dc == "" {
			return bad("Failover.Datacenters holds an empty name")
		}
	}
	// A template must render: its expressions are checked with its own
	// name as the name executed.
	r, err := renderQuery(q, q.Name)
	if err != nil {
		return bad("Bad template: %v", err)
	}
	if ttl := r.GetDns().GetTtl(); ttl != "" && !strings.Contains(q.GetDns().GetTtl(), "${") {
		d, err := time.ParseDuration(ttl)
		if err != nil {
			return bad("Bad DNS TTL '%s': %v", ttl, err)
		}
		if d < 0 {
			return bad("DNS TTL '%d', must be >=0", d)
		}
	}
	return nil
}

package config

import (
	"fmt"
	"strings"
	"time"
)

// serviceDraft is a service definition while it is decoded: its single
// "check" is kept apart so it can precede "checks" as in Consul.
type serviceDraft struct {
	ServiceDefinition
	check []CheckDefinition
}

// Service and check keys are matched loosely (case and underscores
// ignored), so Consul's snake_case file keys and the API's CamelCase both
// work.
var serviceObject = object[serviceDraft]{
	loose:  true,
	unused: unusedServiceKeys,
	keys: map[string]keyFunc[serviceDraft]{
		"id":                val(toString, func(s *serviceDraft) *string { return &s.ID }),
		"name":              val(toString, func(s *serviceDraft) *string { return &s.Name }),
		"tags":              appendStrings(func(s *serviceDraft) *[]string { return &s.Tags }),
		"address":           val(toString, func(s *serviceDraft) *string { return &s.Address }),
		"port":              val(toInt, func(s *serviceDraft) *int { return &s.Port }),
		"meta":              val(toStringMap, func(s *serviceDraft) *map[string]string { return &s.Meta }),
		"enabletagoverride": val(toBool, func(s *serviceDraft) *bool { return &s.EnableTagOverride }),
		"weights":           decodeWeights,
		"check":             decodeChecks(false, func(s *serviceDraft) *[]CheckDefinition { return &s.check }),
		"checks":            decodeChecks(false, func(s *serviceDraft) *[]CheckDefinition { return &s.Checks }),
	},
}

var weightsObject = object[ServiceWeights]{
	loose: true,
	keys: map[string]keyFunc[ServiceWeights]{
		"passing": val(toInt, func(w *ServiceWeights) *int { return &w.Passing }),
		"warning": val(toInt, func(w *ServiceWeights) *int { return &w.Warning }),
	},
}

var checkObject = object[CheckDefinition]{
	loose:  true,
	unused: unusedCheckKeys,
	keys: map[string]keyFunc[CheckDefinition]{
		"id":                     val(toString, func(c *CheckDefinition) *string { return &c.ID }),
		"checkid":                val(toString, func(c *CheckDefinition) *string { return &c.ID }),
		"name":                   val(toString, func(c *CheckDefinition) *string { return &c.Name }),
		"notes":                  val(toString, func(c *CheckDefinition) *string { return &c.Notes }),
		"serviceid":              val(toString, func(c *CheckDefinition) *string { return &c.ServiceID }),
		"http":                   val(toString, func(c *CheckDefinition) *string { return &c.HTTP }),
		"header":                 val(toHeader, func(c *CheckDefinition) *map[string][]string { return &c.Header }),
		"method":                 val(toMethod, func(c *CheckDefinition) *string { return &c.Method }),
		"body":                   val(toString, func(c *CheckDefinition) *string { return &c.Body }),
		"tlsskipverify":          val(toBool, func(c *CheckDefinition) *bool { return &c.TLSSkipVerify }),
		"tlsservername":          val(toString, func(c *CheckDefinition) *string { return &c.TLSServerName }),
		"tcp":                    val(toString, func(c *CheckDefinition) *string { return &c.TCP }),
		"tcpusetls":              val(toBool, func(c *CheckDefinition) *bool { return &c.TCPUseTLS }),
		"udp":                    val(toString, func(c *CheckDefinition) *string { return &c.UDP }),
		"disableredirects":       val(toBool, func(c *CheckDefinition) *bool { return &c.DisableRedirects }),
		"aliasservice":           val(toString, func(c *CheckDefinition) *string { return &c.AliasService }),
		"aliasnode":              val(toString, func(c *CheckDefinition) *string { return &c.AliasNode }),
		"h2ping":                 val(toString, func(c *CheckDefinition) *string { return &c.H2PING }),
		"h2pingusetls":           opt(toBool, func(c *CheckDefinition) **bool { return &c.H2PingUseTLS }),
		"grpc":                   val(toString, func(c *CheckDefinition) *string { return &c.GRPC }),
		"grpcusetls":             val(toBool, func(c *CheckDefinition) *bool { return &c.GRPCUseTLS }),
		"args":                   val(toStrings, func(c *CheckDefinition) *[]string { return &c.Args }),
		"scriptargs":             val(toStrings, func(c *CheckDefinition) *[]string { return &c.Args }),
		"ttl":                    val(nonNegative, func(c *CheckDefinition) *time.Duration { return &c.TTL }),
		"interval":               val(nonNegative, func(c *CheckDefinition) *time.Duration { return &c.Interval }),
		"timeout":                val(nonNegative, func(c *CheckDefinition) *time.Duration { return &c.Timeout }),
		"status":                 val(toStatus, func(c *CheckDefinition) *string { return &c.Status }),
		"successbeforepassing":   val(toCount, func(c *CheckDefinition) *int { return &c.SuccessBeforePassing }),
		"failuresbeforecritical": val(toCount, func(c *CheckDefinition) *int { return &c.FailuresBeforeCritical }),
		"failuresbeforewarning":  val(toCount, func(c *CheckDefinition) *int { return &c.FailuresBeforeWarning }),
		"deregistercriticalserviceafter": val(nonNegative, func(c *CheckDefinition) *time.Duration {
			return &c.DeregisterCriticalServiceAfter
		}),
	},
}

// decodeServices decodes a service object or list of them, validates each
// and appends it to the list field returns.
func decodeServices[T any](field func(*T) *[]ServiceDefinition) keyFunc[T] {
	return func(d *decoder, t *T, v any, path string) error {
		ms, err := toMaps(v)
		if err != nil {
			return err
		}
		for i, m := range ms {
			p := fmt.Sprintf("%s[%d]", path, i)
			var s serviceDraft
			if err := decodeObject(d, serviceObject, m, &s, p); err != nil {
				return err
			}
			s.Checks = append(s.check, s.Checks...)
			if err := validateService(&s.ServiceDefinition); err != nil {
				return invalid(fmt.Errorf("%s: %w", p, err))
			}
			*field(t) = append(*field(t), s.ServiceDefinition)
		}
		return nil
	}
}

// decodeChecks decodes a check object or list of them; top-level checks
// must be named, service checks take their name from the service.
func decodeChecks[T any](topLevel bool, field func(*T) *[]CheckDefinition) keyFunc[T] {
	return func(d *decoder, t *T, v any, path string) error {
		ms, err := toMaps(v)
		if err != nil {
			return err
		}
		for i, m := range ms {
			p := fmt.Sprintf("%s[%d]", path, i)
			var c CheckDefinition
			if err := decodeObject(d, checkObject, m, &c, p); err != nil {
				return err
			}
			if err := validateCheck(&c, topLevel); err != nil {
				return invalid(fmt.Errorf("%s: %w", p, err))
			}
			*field(t) = append(*field(t), c)
		}
		return nil
	}
}

func decodeWeights(d *decoder, s *serviceDraft, v any, path string) error {
	m, err := toMap(v)
	if err != nil {
		return err
	}
	w := ServiceWeights{Passing: 1, Warning: 1} // Consul's defaults
	if err := decodeObject(d, weightsObject, m, &w, path); err != nil {
		return err
	}
	s.Weights = &w
	return nil
}

func toHeader(v any) (map[string][]string, error) {
	m, err := toMap(v)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(m))
	for k, e := range m {
		vals, err := toStrings(e)
		if err != nil {
			return nil, fmt.Errorf("header %q: %w", k, err)
		}
		out[k] = vals
	}
	return out, nil
}

// toMethod upper-cases the HTTP method ("Get" becomes "GET"): methods are
// case-sensitive on the wire and servers answer "Get" with 405.
func toMethod(v any) (string, error) {
	s, err := toString(v)
	return strings.ToUpper(strings.TrimSpace(s)), err
}

func toStatus(v any) (string, error) {
	s, err := toString(v)
	if err != nil {
		return "", err
	}
	switch s {
	case "", "passing", "warning", "critical":
		return s, nil
	}
	return "", fmt.Errorf("status must be 'passing', 'warning' or 'critical', got %q", s)
}

func toCount(v any) (int, error) {
	n, err := toInt(v)
	if err == nil && n < 0 {
		return 0, fmt.Errorf("must not be negative, got %d", n)
	}
	return n, err
}

func validateService(s *ServiceDefinition) error {
	if strings.TrimSpace(s.Name) == "" {
		return fmt.Errorf("missing service name")
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("port %d out of range 0-65535", s.Port)
	}
	if s.Weights != nil && (s.Weights.Passing < 1 || s.Weights.Warning < 0) {
		return fmt.Errorf("invalid weights: passing must be at least 1 and warning at least 0")
	}
	if err := validateMeta(s.Meta); err != nil {
		return fmt.Errorf("meta invalid: %w", err)
	}
	return nil
}

// checkKinds names the kinds of check a definition selects.
func checkKinds(c *CheckDefinition) []string {
	var kinds []string
	if c.HTTP != "" {
		kinds = append(kinds, "http")
	}
	if c.TCP != "" {
		kinds = append(kinds, "tcp")
	}
	if c.UDP != "" {
		kinds = append(kinds, "udp")
	}
	if c.GRPC != "" {
		kinds = append(kinds, "grpc")
	}
	if c.H2PING != "" {
		kinds = append(kinds, "h2ping")
	}
	if len(c.Args) > 0 {
		kinds = append(kinds, "args")
	}
	if c.TTL > 0 {
		kinds = append(kinds, "ttl")
	}
	if c.AliasService != "" || c.AliasNode != "" {
		kinds = append(kinds, "alias")
	}
	return kinds
}

func validateCheck(c *CheckDefinition, topLevel bool) error {
	if topLevel && strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("missing check name")
	}
	kinds := checkKinds(c)
	switch {
	case len(kinds) == 0:
		return fmt.Errorf("check must define one of http, tcp, udp, grpc, h2ping, args, ttl or alias_service/alias_node")
	case len(kinds) > 1:
		return fmt.Errorf("check must define only one of http, tcp, udp, grpc, h2ping, args, ttl or alias_service/alias_node, got %s", strings.Join(kinds, ", "))
	case kinds[0] != "ttl" && kinds[0] != "alias" && c.Interval <= 0:
		return fmt.Errorf("interval must be > 0 for %s checks", kinds[0])
	}
	return nil
}

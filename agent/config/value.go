package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// errorf is fmt.Errorf; a short name for the many one-line decode errors.
var errorf = fmt.Errorf

// The functions below convert the generic values that encoding/json (with
// UseNumber) and hcl v1 produce into typed values. JSON gives string,
// json.Number, bool, []any and map[string]any; HCL gives string, int,
// float64, bool, []any and []map[string]any for blocks.

// typeName describes a decoded value for error messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int, int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any, []map[string]any:
		return "an object"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func toString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errorf("expected a string, got %s", typeName(v))
	}
	return s, nil
}

func toBool(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, errorf("expected a boolean, got %q", v)
		}
		return b, nil
	}
	return false, errorf("expected a boolean, got %s", typeName(v))
}

func toInt(v any) (int, error) {
	switch v := v.(type) {
	case int:
		return v, nil
	case int64:
		if v < math.MinInt || v > math.MaxInt {
			return 0, errorf("number %d out of range", v)
		}
		return int(v), nil
	case float64:
		if v != math.Trunc(v) || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > 1<<53 {
			return 0, errorf("expected an integer, got %v", v)
		}
		return int(v), nil
	case json.Number:
		return parseInt(string(v))
	case string:
		return parseInt(v)
	}
	return 0, errorf("expected an integer, got %s", typeName(v))
}

// toFloat accepts any number (or a numeric string), finite.
func toFloat(v any) (float64, error) {
	var f float64
	switch v := v.(type) {
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case float64:
		f = v
	case json.Number:
		return parseFloat(string(v))
	case string:
		return parseFloat(v)
	default:
		return 0, errorf("expected a number, got %s", typeName(v))
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errorf("expected a finite number, got %v", f)
	}
	return f, nil
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errorf("expected a number, got %q", s)
	}
	return f, nil
}

func parseInt(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 0)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errorf("number %s out of range", s)
		}
		return 0, errorf("expected an integer, got %q", s)
	}
	return int(n), nil
}

// toDuration accepts a Go duration string ("10s", "1m30s").
func toDuration(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, errorf("expected a duration string such as \"10s\", got %s", typeName(v))
	}
	return parseDuration(s)
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errorf("invalid duration %q", s)
	}
	return d, nil
}

// toStrings accepts a list of strings, or a single string as a list of one.
func toStrings(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errorf("element %d: expected a string, got %s", i, typeName(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errorf("expected a list of strings, got %s", typeName(v))
}

// toMap accepts an object. HCL v1 gives a block as a list of objects; the
// objects of repeated blocks are merged, later keys winning.
func toMap(v any) (map[string]any, error) {
	switch v := v.(type) {
	case map[string]any:
		return v, nil
	case []map[string]any:
		if len(v) == 1 {
			return v[0], nil
		}
		out := map[string]any{}
		for _, m := range v {
			for k, e := range m {
				out[k] = e
			}
		}
		return out, nil
	}
	return nil, errorf("expected an object, got %s", typeName(v))
}

// toMaps accepts a list of objects or a single object (a JSON object, an
// HCL block, or repeated HCL blocks).
func toMaps(v any) ([]map[string]any, error) {
	switch v := v.(type) {
	case map[string]any:
		return []map[string]any{v}, nil
	case []map[string]any:
		return v, nil
	case []any:
		out := make([]map[string]any, 0, len(v))
		for i, e := range v {
			m, err := toMap(e)
			if err != nil {
				return nil, errorf("element %d: %w", i, err)
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, errorf("expected an object or a list of objects, got %s", typeName(v))
}

// toStringMap accepts an object of string values.
func toStringMap(v any) (map[string]string, error) {
	m, err := toMap(v)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, errorf("key %q: expected a string, got %s", k, typeName(e))
		}
		out[k] = s
	}
	return out, nil
}

// jsonShape rewrites a decoded value into the shapes encoding/json
// produces by default (float64 numbers, []any, map[string]any), turning a
// single HCL block into an object, so raw values (watches) look the same
// whichever format they came from.
func jsonShape(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return f
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonShape(e)
		}
		return out
	case []map[string]any:
		if len(v) == 1 {
			return jsonShape(v[0])
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonShape(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonShape(e)
		}
		return out
	default:
		return v
	}
}

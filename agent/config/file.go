package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl"
)

// formatOf returns "json" or "hcl" from a file name's extension, or "".
func formatOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "json"
	case ".hcl":
		return "hcl"
	}
	return ""
}

// expandPaths turns the -config-file/-config-dir arguments, in order, into
// the files to read: a file must be .json or .hcl; a directory contributes
// its .json and .hcl files in lexical order, skipping anything else.
func expandPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, invalid(fmt.Errorf("config file %q: %w", p, err))
		}
		if !fi.IsDir() {
			if formatOf(p) == "" {
				return nil, invalidf("config file %q: missing or invalid file extension; please use .json or .hcl", p)
			}
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p) // sorted by name
		if err != nil {
			return nil, invalid(fmt.Errorf("config dir %q: %w", p, err))
		}
		for _, e := range entries {
			name := filepath.Join(p, e.Name())
			if formatOf(name) == "" {
				continue
			}
			// Follow symlinks; skip directories named like config files.
			if fi, err := os.Stat(name); err != nil || fi.IsDir() {
				if err != nil {
					return nil, invalid(fmt.Errorf("config file %q: %w", name, err))
				}
				continue
			}
			files = append(files, name)
		}
	}
	return files, nil
}

// parse decodes JSON or HCL text into a generic map.
func parse(data []byte, format string) (map[string]any, error) {
	if format == "hcl" {
		return parseHCL(data)
	}
	return parseJSON(data)
}

func parseJSON(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty JSON document")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object at the top level, got %s", typeName(v))
	}
	return m, nil
}

// parseHCL decodes HCL v1. The parser is third-party code fed operator
// input, so a panic in it is turned into an error.
func parseHCL(data []byte) (m map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("HCL parser failed: %v", r)
		}
	}()
	if err := hcl.Decode(&m, string(data)); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

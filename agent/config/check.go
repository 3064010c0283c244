package config

import (
	"fmt"
	"net"
	"os"
)

// validateDataDirPlaceholder stands in for data_dir when the files being
// checked do not set it: the agent's command line usually does.
const validateDataDirPlaceholder = "."

// Validate checks the configuration files and directories at paths (a
// directory's .json and .hcl files in lexical order, as the agent reads
// them) without starting anything and without touching the disk or the
// host beyond reading the files: no data dir is created, no node ID
// written, no interface addresses read. It returns the warnings the
// agent would log and every error found, each one line naming its file
// (and the key, when the error is about one). Each file is decoded on
// its own, so one bad file does not hide another's errors; when every
// file decodes, their merge is validated as the agent would, except that
// data_dir and node_name may be left to the command line.
func Validate(paths []string) (warnings []string, errs []error) {
	if len(paths) == 0 {
		return nil, []error{invalidf("no configuration files or directories given")}
	}
	var files []string
	for _, p := range paths {
		fs, err := expandPaths([]string{p})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, fs...)
	}
	var merged partial
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, invalid(fmt.Errorf("config file %q: %w", name, err)))
			continue
		}
		var p partial
		w, err := mergeSource(&p, data, formatOf(name))
		warnings = append(warnings, prefixAll(fmt.Sprintf("config file %q: ", name), w)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %q: %w", name, err))
			continue
		}
		merge(&merged, &p)
	}
	if len(errs) > 0 {
		return warnings, errs
	}
	c := merged.config()
	if c.DataDir == "" {
		c.DataDir = validateDataDirPlaceholder
	}
	if c.NodeName == "" {
		c.NodeName = "validate"
	}
	l := &loader{
		hostname: os.Hostname,
		// A stand-in interface: an unspecified bind address is resolved
		// on the host the agent runs on, not here.
		interfaceAddrs: func() ([]net.Addr, error) {
			return []net.Addr{&net.IPNet{IP: net.IPv4(10, 0, 0, 1), Mask: net.CIDRMask(8, 32)}}, nil
		},
	}
	normalize(c)
	if err := validate(c); err != nil {
		return warnings, []error{fmt.Errorf("configuration: %w", err)}
	}
	for _, r := range c.Recursors {
		if _, err := normalizeRecursor(r); err != nil {
			return warnings, []error{fmt.Errorf("configuration: %w", invalid(err))}
		}
	}
	warnings = append(warnings, settleBootstrap(c)...)
	if err := l.resolveAddrs(c); err != nil {
		return warnings, []error{fmt.Errorf("configuration: %w", invalid(err))}
	}
	return warnings, nil
}

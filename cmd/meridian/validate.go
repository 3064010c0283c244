package main

import (
	"fmt"

	"github.com/meridian-io/meridian/agent/config"
)

const validateHelp = `Usage: meridian validate [options] FILE_OR_DIRECTORY...

  Checks configuration files and directories (a directory's .json and .hcl
  files, as the agent reads them) without starting anything. Prints
  "Configuration is valid!" and exits 0, or prints each error on one line
  with its file and key and exits 1. Warnings (keys accepted but not acted
  on) go to standard error and do not fail the check. data_dir and
  node_name may be left to the agent's command line.

  "meridian configtest -config-dir=DIR" is the same check, in the form of
  older Consul releases' configtest command.`

func runValidate(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("validate")
	var paths []string
	add := func(v string) error { paths = append(paths, v); return nil }
	fs.Func("config-file", "Path to a JSON or HCL `file` to check. Can be specified multiple times.", add)
	fs.Func("config-dir", "Path to a `directory` of .json and .hcl files to check. Can be specified multiple times.", add)
	quiet := fs.Bool("quiet", false, "Print nothing when the configuration is valid.")
	if code, ok := e.parse(fs, validateHelp, args); !ok {
		return code
	}
	paths = append(paths, fs.Args()...)
	if len(paths) == 0 {
		return e.usageError(fs.Name(), "Must specify at least one config file or directory")
	}
	warnings, errs := config.Validate(paths)
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "Warning: %s\n", oneLine(w))
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(e.stderr, oneLine(err.Error()))
		}
		return exitError
	}
	if !*quiet {
		fmt.Fprintln(e.stdout, "Configuration is valid!")
	}
	return exitOK
}

package main

import (
	"fmt"
	"io"
)

// version is the release of this binary. Release builds set it with
// -ldflags "-X main.version=1.2.3"; revision likewise carries the git commit.
var (
	version  = "0.1.0-dev"
	revision = ""
)

// Protocol versions the binary speaks, printed by `meridian version` in the
// wording Consul operators know.
const (
	protocolVersionDefault = 2
	protocolVersionMin     = 2
	protocolVersionMax     = 3
)

const versionHelp = `Usage: meridian version

  Prints the Meridian version and the protocol versions it speaks.`

func runVersion(e *cmdEnv, args []string) int {
	fs := e.newFlagSet("version")
	if code, ok := e.parse(fs, versionHelp, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return e.usageError("version", "Too many arguments (expected 0, got %d)", fs.NArg())
	}
	writeVersion(e.stdout)
	return exitOK
}

func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "Meridian v%s\n", version)
	if revision != "" {
		fmt.Fprintf(w, "Revision %s\n", revision)
	}
	fmt.Fprintf(w, "Protocol %d spoken by default, understands %d to %d "+
		"(agent will automatically use protocol >%d when speaking to compatible agents)\n",
		protocolVersionDefault, protocolVersionMin, protocolVersionMax, protocolVersionDefault)
}

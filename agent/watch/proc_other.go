//go:build !unix

package watch

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

// terminateGroup kills p: without process groups and SIGTERM there is
// nothing gentler.
func terminateGroup(p *os.Process) error { return p.Kill() }

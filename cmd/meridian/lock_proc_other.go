//go:build !unix

package main

import (
	"os"
	"os/exec"
)

func setChildProcessGroup(*exec.Cmd) {}

// terminateChild kills the child: without SIGTERM there is nothing gentler.
func terminateChild(p *os.Process) error { return p.Kill() }

func killChild(p *os.Process) error { return p.Kill() }

func exitCodeOf(state *os.ProcessState) int {
	if state == nil || state.ExitCode() < 0 {
		return exitError
	}
	return state.ExitCode()
}

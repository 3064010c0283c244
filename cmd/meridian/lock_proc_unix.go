//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// setChildProcessGroup starts cmd in a process group of its own, so the
// signals that stop it reach everything it started.
func setChildProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// terminateChild sends SIGTERM to the child's process group.
func terminateChild(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

// killChild sends SIGKILL to the child's process group.
func killChild(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}

// exitCodeOf is the child's exit code, 128+N when signal N killed it (as
// shells report it).
func exitCodeOf(state *os.ProcessState) int {
	if state == nil {
		return exitError
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

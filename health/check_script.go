package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/meridian-io/meridian/internal/clock"
)

// scriptWaitDelay bounds how long a finished or killed script's output
// pipes may stay open (held by a child that escaped the process group).
const scriptWaitDelay = time.Second

// scriptProbe is a script check: exit 0 is passing, 1 warning, anything
// else critical. Output (stdout and stderr) keeps the last OutputMaxSize
// bytes. A script still running at the timeout (measured on the clock) is
// killed with its process group and reported critical.
func scriptProbe(spec *CheckSpec, clk clock.Clock) probeFunc {
	return func(ctx context.Context) (string, string) {
		cmd := exec.Command(spec.ScriptArgs[0], spec.ScriptArgs[1:]...)
		setProcessGroup(cmd)
		out := newTailBuffer(spec.OutputMaxSize)
		cmd.Stdout = out
		cmd.Stderr = out
		cmd.WaitDelay = scriptWaitDelay
		if err := cmd.Start(); err != nil {
			return StatusCritical, err.Error()
		}
		waitCh := make(chan error, 1)
		go func() { waitCh <- cmd.Wait() }()
		timedOut, timer := clock.After(clk, spec.Timeout)
		var err error
		select {
		case err = <-waitCh:
			timer.Stop()
		case <-timedOut:
			killProcessGroup(cmd)
			<-waitCh
			return StatusCritical, fmt.Sprintf("Timed out (%s) running check", spec.Timeout)
		case <-ctx.Done():
			timer.Stop()
			killProcessGroup(cmd)
			<-waitCh
			return StatusCritical, "check stopped"
		}

		output := out.String()
		if out.truncated() {
			output = fmt.Sprintf("Captured %d of %d bytes\n...\n%s", len(out.buf), out.total, output)
		}
		if err == nil {
			return StatusPassing, output
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() == 1 {
			return StatusWarning, output
		}
		if output == "" {
			output = err.Error()
		}
		return StatusCritical, output
	}
}

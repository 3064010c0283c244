package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/freeport"
)

// Bounds of the harness's own waits.
const (
	exitTimeout    = 30 * time.Second // SIGTERM until the process has exited
	killTimeout    = 10 * time.Second // SIGKILL until the process is reaped
	requestTimeout = 5 * time.Second  // one HTTP request to an agent
	logTailLines   = 60               // lines of each log shown on failure
)

// agentPorts are the ports one agent listens on; they stay the same across
// restarts.
type agentPorts struct {
	HTTP, Server, SerfLAN, SerfWAN, DNS int
}

// flags are the agent flags for the ports. Every agent gets a WAN gossip
// port of its own: servers open one (8302 by default, which a second
// server on the host could not bind), clients ignore it.
func (p agentPorts) flags() []string {
	return []string{
		"-http-port", strconv.Itoa(p.HTTP),
		"-server-port", strconv.Itoa(p.Server),
		"-serf-lan-port", strconv.Itoa(p.SerfLAN),
		"-serf-wan-port", strconv.Itoa(p.SerfWAN),
		"-dns-port", strconv.Itoa(p.DNS),
	}
}

// agentProc is one `meridian agent` process, restartable on the same
// arguments, data dir and ports. Its output goes to a log file that
// survives restarts.
type agentProc struct {
	t    testing.TB
	Name string
	// Args are the flags after "agent", ports included.
	Args                                   []string
	HTTPAddr, ServerAddr, LANAddr, WANAddr string
	DNSPort                                int
	LogPath                                string
	// API is a Consul API client of the agent's HTTP address whose
	// requests time out after requestTimeout.
	API *api.Client

	httpClient *http.Client

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the current process is reaped
	waitErr  error         // cmd.Wait's result, set before exited closes
	exitedAt time.Time     // when Wait returned, set before exited closes
	runs     int
	wantDown bool // the test stopped or killed it on purpose
	paused   bool
}

func newAgentProc(t testing.TB, name string, ports agentPorts, args []string) *agentProc {
	t.Helper()
	hc := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	p := &agentProc{
		t:          t,
		Name:       name,
		Args:       append(append([]string{}, args...), ports.flags()...),
		HTTPAddr:   addr(ports.HTTP),
		ServerAddr: addr(ports.Server),
		LANAddr:    addr(ports.SerfLAN),
		WANAddr:    addr(ports.SerfWAN),
		DNSPort:    ports.DNS,
		LogPath:    filepath.Join(t.TempDir(), name+".log"),
		httpClient: hc,
	}
	client, err := api.NewClient(&api.Config{Address: p.HTTPAddr, Scheme: "http", HttpClient: hc})
	if err != nil {
		t.Fatalf("api client for %s: %v", name, err)
	}
	p.API = client
	return p
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// start runs the agent process once more; it must not be running.
func (p *agentProc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.exited) {
		p.t.Fatalf("%s: start while running", p.Name)
	}
	p.runs++
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("%s: open log: %v", p.Name, err)
	}
	fmt.Fprintf(logFile, "==== e2e: start #%d at %s: meridian agent %s\n",
		p.runs, time.Now().Format(time.RFC3339Nano), strings.Join(p.Args, " "))
	cmd := exec.Command(binPath, append([]string{"agent"}, p.Args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		p.t.Fatalf("%s: start: %v", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.wantDown, p.paused, p.waitErr = cmd, exited, false, false, nil
	// The reaper ends when the process does; every process is killed in
	// the test's cleanup at the latest.
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.waitErr, p.exitedAt = err, time.Now()
		p.mu.Unlock()
		close(exited)
	}()
}

// signal sends sig to the running process; wantDown marks an exit the test
// asked for.
func (p *agentProc) signal(sig syscall.Signal, wantDown bool) <-chan struct{} {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatalf("%s: %v before start", p.Name, sig)
	}
	if isClosed(p.exited) {
		if wantDown {
			return p.exited
		}
		p.t.Fatalf("%s: %v to an exited process (%v)", p.Name, sig, p.waitErr)
	}
	p.wantDown = p.wantDown || wantDown
	if err := p.cmd.Process.Signal(sig); err != nil && !(wantDown && errors.Is(err, os.ErrProcessDone)) {
		p.t.Fatalf("%s: send %v: %v", p.Name, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT, syscall.SIGKILL:
		p.paused = false
	}
	return p.exited
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *agentProc) Kill() {
	p.t.Helper()
	p.waitExit(p.signal(syscall.SIGKILL, true), killTimeout, "SIGKILL")
}

// killAll sends SIGKILL to every process of ps at once, then waits until
// all of them are gone.
func killAll(ps ...*agentProc) {
	exited := make([]<-chan struct{}, len(ps))
	for i, p := range ps {
		exited[i] = p.signal(syscall.SIGKILL, true)
	}
	for i, p := range ps {
		p.waitExit(exited[i], killTimeout, "SIGKILL")
	}
}

// Stop sends SIGTERM (and SIGCONT to a paused process) and waits for the
// graceful exit, which must have status 0.
func (p *agentProc) Stop() {
	p.t.Helper()
	exited := p.signal(syscall.SIGTERM, true)
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused {
		p.signal(syscall.SIGCONT, true)
	}
	p.waitExit(exited, exitTimeout, "SIGTERM")
	if err := p.ExitErr(); err != nil {
		p.t.Errorf("%s exited with %v after SIGTERM, want status 0", p.Name, err)
	}
}

// Pause stops the process with SIGSTOP: it keeps its sockets but answers
// nothing until Resume.
func (p *agentProc) Pause() { p.t.Helper(); p.signal(syscall.SIGSTOP, false) }

// Resume continues a paused process with SIGCONT.
func (p *agentProc) Resume() { p.t.Helper(); p.signal(syscall.SIGCONT, false) }

// Restart starts the agent again with the same arguments, data dir and
// ports, stopping it first (SIGTERM) if it still runs.
func (p *agentProc) Restart() {
	p.t.Helper()
	if p.Running() {
		p.Stop()
	}
	p.start()
}

func (p *agentProc) waitExit(exited <-chan struct{}, timeout time.Duration, what string) {
	p.t.Helper()
	select {
	case <-exited:
	case <-time.After(timeout):
		p.mu.Lock()
		p.cmd.Process.Kill()
		p.mu.Unlock()
		<-exited
		p.t.Fatalf("%s did not exit within %s of %s", p.Name, timeout, what)
	}
}

// Running reports whether the process has been started and not exited.
func (p *agentProc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.exited)
}

// ExitErr is the result of the last process's Wait (nil for status 0).
func (p *agentProc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// unexpectedExit describes an exit the test did not ask for, or is "".
func (p *agentProc) unexpectedExit() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || !isClosed(p.exited) || p.wantDown {
		return ""
	}
	return fmt.Sprintf("%s exited on its own (%v); log tail:\n%s", p.Name, p.waitErr, p.logTailLocked(logTailLines))
}

// LogTail is the last n lines of the agent's log.
func (p *agentProc) LogTail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logTailLocked(n)
}

func (p *agentProc) logTailLocked(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// cleanup kills the process if it still runs, and shows its log when the
// test failed.
func (p *agentProc) cleanup() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd != nil {
		if !isClosed(exited) {
			cmd.Process.Kill()
		}
		select {
		case <-exited:
		case <-time.After(killTimeout):
			p.t.Errorf("%s: not reaped %s after SIGKILL", p.Name, killTimeout)
		}
	}
	p.httpClient.CloseIdleConnections()
	if report := p.raceReport(); report != "" {
		p.t.Errorf("%s: the race detector reported a data race:\n%s", p.Name, report)
	}
	if p.t.Failed() {
		p.t.Logf("---- last %d lines of %s (%s) ----\n%s", logTailLines, p.Name, p.LogPath, p.LogTail(logTailLines))
	}
}

// raceReport is the first data race report in the agent's log (a binary
// built with MERIDIAN_E2E_RACE), or "".
func (p *agentProc) raceReport() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	const marker = "WARNING: DATA RACE"
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		return ""
	}
	report, _, _ := bytes.Cut(data[i:], []byte("\n==================\n"))
	return string(report)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// freePorts returns n distinct ports, none in taken, that are free for both
// TCP and UDP on 127.0.0.1 right now (serf needs both on its port), from
// outside the kernel's ephemeral range (freeport.Local). It adds them
// to taken.
func freePorts(t testing.TB, n int, taken map[int]bool) []int {
	t.Helper()
	var out []int
	for attempts := 0; len(out) < n; attempts++ {
		if attempts > 100 {
			t.Fatal("no free ports on 127.0.0.1")
		}
		ports, err := freeport.Local(n - len(out))
		if err != nil {
			t.Fatal(err)
		}
		for _, port := range ports {
			if !taken[port] {
				taken[port] = true
				out = append(out, port)
			}
		}
	}
	return out
}

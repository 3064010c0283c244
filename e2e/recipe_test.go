package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// seedService is the deployment recipe's service definition (as written
// for Consul, "method":"Get" in lower case included), on port helloPort.
func seedService(helloPort int, tags string) string {
	return fmt.Sprintf(`{"services":[{"id":"hello1","name":"hello","tags":[%s],"address":"127.0.0.1","port":%d,
"checks":[{"http":"http://localhost:%d/","tls_skip_verify":false,"method":"Get","interval":"10s","timeout":"1s"}]}]}`,
		tags, helloPort, helloPort)
}

// notifyListener is a stand-in for systemd's notification socket.
type notifyListener struct {
	conn *net.UnixConn
	msgs chan string
}

func listenNotify(t *testing.T) (*notifyListener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{conn: conn, msgs: make(chan string, 64)}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- string(buf[:k]):
			default:
			}
		}
	}()
	return n, path
}

// waitFor returns the first datagram containing want, failing after timeout.
func (n *notifyListener) waitFor(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-n.msgs:
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on the notification socket within %s", want, timeout)
		}
	}
}

// TestSeedRecipe follows the deployment recipe Meridian was founded on,
// with the binary's name changed and every address on 127.0.0.x: the
// exact agent flag set, configtest before start, join --http-addr and
// members, the pid file, the hello service whose HTTP check turns passing
// once something answers on its port, a reload of an edited service by
// SIGHUP, and an exit within 5 s of SIGTERM. The agent runs as systemd's
// Type=notify would see it (NOTIFY_SOCKET).
func TestSeedRecipe(t *testing.T) {
	e := newEnv(t)
	root := t.TempDir()
	web, data, conf, run := filepath.Join(root, "web"), filepath.Join(root, "data"), filepath.Join(root, "conf"), filepath.Join(root, "run")
	for _, d := range []string{web, data, conf, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(web, "index.html"), "<h1>recipe console</h1>")
	ports := e.newPorts()
	helloPort := freePorts(t, 1, e.taken)[0]
	// The recipe uses the default ports; here they come from a file in
	// the config dir so that parallel runs do not collide, and the flag
	// set stays the recipe's.
	writeFile(t, filepath.Join(conf, "ports.json"), fmt.Sprintf(`{"ports":{"http":%d,"dns":%d,"server":%d,"serf_lan":%d,"serf_wan":%d}}`,
		ports.HTTP, ports.DNS, ports.Server, ports.SerfLAN, ports.SerfWAN))
	helloFile := filepath.Join(conf, "hello.json")
	writeFile(t, helloFile, seedService(helloPort, `"primary"`))

	// ExecStartPre: configtest on the good dir, and on a broken copy.
	if out := mustCLI(t, "", "configtest", "-config-dir="+conf); out != "Configuration is valid!\n" {
		t.Errorf("configtest: %q", out)
	}
	if out := mustCLI(t, "", "validate", conf); out != "Configuration is valid!\n" {
		t.Errorf("validate: %q", out)
	}
	broken := t.TempDir()
	writeFile(t, filepath.Join(broken, "hello.json"), seedService(helloPort, `"primary"`))
	writeFile(t, filepath.Join(broken, "typo.json"), `{"servcies": []}`)
	writeFile(t, filepath.Join(broken, "ports.hcl"), `ports { http = "eighty" }`)
	res := runCLI(t, "", "configtest", "-config-dir="+broken)
	errLines := lines(res.stderr)
	if res.code != 1 || res.stdout != "" || len(errLines) != 2 ||
		!strings.Contains(errLines[0], "ports.hcl") || !strings.Contains(errLines[0], "ports.http") ||
		!strings.Contains(errLines[1], "typo.json") || !strings.Contains(errLines[1], "servcies") {
		t.Errorf("configtest of a broken dir: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	notify, sock := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	pidFile := filepath.Join(run, "x.pid")
	server := e.add("recipe", ports)
	server.Args = []string{"-server", "-bootstrap", "-syslog", "-ui-dir=" + web, "-data-dir=" + data,
		"-config-dir=" + conf, "-pid-file=" + pidFile, "-client=127.0.0.1 127.0.0.2", "-bind=127.0.0.2", "-node=127.0.0.2"}
	server.LANAddr = net.JoinHostPort("127.0.0.2", strconv.Itoa(ports.SerfLAN))
	server.start()
	notify.waitFor(t, "READY=1", time.Minute)
	e.waitHTTP(server)

	// The pid file names the process.
	server.mu.Lock()
	pid := server.cmd.Process.Pid
	server.mu.Unlock()
	if b, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("pid file: %q, %v; want %d", b, err, pid)
	}
	// -syslog without a syslog: one warning, and logging goes on.
	if _, err := os.Stat("/dev/log"); os.IsNotExist(err) {
		log := readLog(t, server)
		if n := strings.Count(log, "syslog is not reachable"); n != 1 || !strings.Contains(log, "Meridian agent running") {
			t.Errorf("log has %d syslog warnings, want 1; log:\n%s", n, server.LogTail(20))
		}
	}
	// HTTP on every client address, DNS too; the UI from -ui-dir.
	httpc := &http.Client{Timeout: requestTimeout}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		hostPort := net.JoinHostPort(ip, strconv.Itoa(ports.HTTP))
		if body := httpGet(t, httpc, "http://"+hostPort+"/ui/"); !strings.Contains(body, "recipe console") {
			t.Errorf("UI on %s: %q", hostPort, body)
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(ports.DNS)), requestTimeout)
		if err != nil {
			t.Errorf("DNS (TCP) on %s: %v", ip, err)
		} else {
			c.Close()
		}
	}

	// A second agent on 127.0.0.3, joined as the recipe does.
	cports := e.newPorts()
	client := e.add("recipe-client", cports)
	client.Args = append([]string{"-data-dir=" + t.TempDir(), "-bind=127.0.0.3", "-client=127.0.0.3", "-node=127.0.0.3"}, cports.flags()...)
	client.HTTPAddr = net.JoinHostPort("127.0.0.3", strconv.Itoa(cports.HTTP))
	client.API = newAPIClient(t, client.HTTPAddr)
	t.Setenv("NOTIFY_SOCKET", "")
	client.start()
	// Alone, the client knows no server: wait for its API, not a leader.
	e.waitFor(startTimeout, "client HTTP API up", func() error { _, err := client.API.Agent().Self(); return err })
	serverHTTP := net.JoinHostPort("127.0.0.2", strconv.Itoa(ports.HTTP))
	out := mustCLI(t, "", "join", "--http-addr", serverHTTP, net.JoinHostPort("127.0.0.3", strconv.Itoa(cports.SerfLAN)))
	if !strings.Contains(out, "Successfully joined cluster by contacting 1 nodes") {
		t.Errorf("join: %q", out)
	}
	e.waitFor(30*time.Second, "both members alive", func() error {
		out := mustCLI(t, "", "members", "--http-addr", serverHTTP)
		alive := 0
		for _, l := range lines(out)[1:] {
			if f := strings.Fields(l); len(f) >= 3 && (f[0] == "127.0.0.2" || f[0] == "127.0.0.3") && f[2] == "alive" {
				alive++
			}
		}
		if alive != 2 {
			return fmt.Errorf("members:\n%s", out)
		}
		return nil
	})

	// The hello service: critical while nothing answers on its port,
	// passing once something does.
	e.waitFor(30*time.Second, "hello registered, critical", func() error { return helloCheck(server, "critical", "primary") })
	hello := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "want GET, got "+r.Method, http.StatusMethodNotAllowed)
			return
		}
		io.WriteString(w, "hello")
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(helloPort)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); hello.Serve(ln) }()
	t.Cleanup(func() { hello.Close(); <-served })
	// The check's interval is 10 s.
	e.waitFor(45*time.Second, "hello check passing", func() error { return helloCheck(server, "passing", "primary") })

	// SIGHUP reloads an edited definition.
	writeFile(t, helloFile, seedService(helloPort, `"primary","v2"`))
	server.signal(syscall.SIGHUP, false)
	e.waitFor(30*time.Second, "edited hello after SIGHUP", func() error { return helloCheck(server, "", "v2") })

	// SIGTERM: gone within 5 s (TimeoutStopSec=5), pid file removed,
	// systemd told.
	start := time.Now()
	exited := server.signal(syscall.SIGTERM, true)
	server.waitExit(exited, exitTimeout, "SIGTERM")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("exit took %s after SIGTERM, want under 5 s", took)
	}
	if err := server.ExitErr(); err != nil {
		t.Errorf("exit status after SIGTERM: %v", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file still there after exit: %v", err)
	}
	notify.waitFor(t, "STOPPING=1", 5*time.Second)
}

// helloCheck checks the hello service in the catalog: a check with the
// given status (any when empty) and the given tag.
func helloCheck(p *agentProc, status, tag string) error {
	entries, _, err := p.API.Health().Service("hello", "", false, nil)
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return fmt.Errorf("%d hello instances", len(entries))
	}
	if !slices.Contains(entries[0].Service.Tags, tag) {
		return fmt.Errorf("tags %v, want %q", entries[0].Service.Tags, tag)
	}
	for _, c := range entries[0].Checks {
		if c.ServiceID == "hello1" && (status == "" || c.Status == status) {
			return nil
		}
	}
	return fmt.Errorf("no hello check %q: %+v", status, entries[0].Checks)
}

func httpGet(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func readLog(t *testing.T, p *agentProc) string {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDistUnit checks the systemd unit shipped in dist/: the directives
// the recipe relies on, and, where systemd-analyze exists, that systemd
// accepts the file.
func TestDistUnit(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(root, "dist", "meridian.service")
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var directives []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			directives = append(directives, l)
		}
	}
	for _, want := range []string{
		"Type=notify", "ExecStartPre=/usr/local/bin/meridian configtest -config-dir=/etc/meridian.d",
		"ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "TimeoutStopSec=5", "Environment=GOMAXPROCS=2",
	} {
		if !slices.Contains(directives, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit's syntax is not checked by systemd")
		return
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	// The unit names the installed path; check it against the test binary.
	copyPath := filepath.Join(t.TempDir(), "meridian.service")
	writeFile(t, copyPath, strings.ReplaceAll(string(b), "/usr/local/bin/meridian", binPath))
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || strings.Contains(string(out), copyPath) {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// newAPIClient is a Consul API client of addr whose requests time out
// after requestTimeout.
func newAPIClient(t *testing.T, addr string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: addr, Scheme: "http", HttpClient: &http.Client{Timeout: requestTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

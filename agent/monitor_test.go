package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-io/meridian/internal/logging"
	"github.com/meridian-io/meridian/internal/testcluster"
)

// readUntil reads monitor lines until one contains marker, and returns
// them all.
func readUntil(t *testing.T, ch <-chan string, marker string) []string {
	t.Helper()
	var got []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-ch:
			if l == "" {
				t.Fatalf("monitor stream ended before %q; got %q", marker, got)
			}
			got = append(got, l)
			if strings.Contains(l, marker) {
				return got
			}
		case <-deadline:
			t.Fatalf("no line with %q within 10s; got %q", marker, got)
		}
	}
}

// stopMonitor ends the api client's reader: it checks stop between
// lines, so one more line wakes it; then its channel closes.
func stopMonitor(t *testing.T, stop chan struct{}, ch <-chan string, log *slog.Logger) {
	t.Helper()
	close(stop)
	log.Error("monitor test: wake the reader")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("monitor reader did not stop")
		}
	}
}

func monitorNode(t *testing.T) *testcluster.Node {
	t.Helper()
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	return c.WaitForLeader(10 * time.Second)
}

func TestAgentMonitorLevel(t *testing.T) {
	n := monitorNode(t)
	log := n.Agent.LoggerForTest()
	stop := make(chan struct{})
	ch, err := client(t, n).Agent().Monitor("debug", stop, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stopMonitor(t, stop, ch, log)
	log.Log(context.Background(), logging.LevelTrace, "monitor test: trace line")
	log.Debug("monitor test: debug line", "k", "v")
	log.Info("monitor test: end")
	got := readUntil(t, ch, "monitor test: end")
	all := strings.Join(got, "\n")
	if strings.Contains(all, "cannot lift the write deadline") {
		t.Errorf("the stream keeps the server's write timeout: %q", got)
	}
	if strings.Contains(all, "trace line") {
		t.Errorf("a debug monitor got a trace line: %q", got)
	}
	if !strings.Contains(all, `level=DEBUG msg="monitor test: debug line"`) || !strings.Contains(all, "k=v") {
		t.Errorf("no debug line: %q", got)
	}
}

func TestAgentMonitorJSON(t *testing.T) {
	n := monitorNode(t)
	log := n.Agent.LoggerForTest()
	stop := make(chan struct{})
	ch, err := client(t, n).Agent().MonitorJSON("info", stop, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stopMonitor(t, stop, ch, log)
	log.Debug("monitor test: below info")
	log.Warn("monitor test: end", "n", 7)
	got := readUntil(t, ch, "monitor test: end")
	for _, l := range got {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		if rec["msg"] == "monitor test: below info" {
			t.Errorf("an info monitor got a debug line")
		}
	}
	var last map[string]any
	json.Unmarshal([]byte(got[len(got)-1]), &last)
	if last["level"] != "WARN" || last["n"] != float64(7) || last["node"] != n.Name {
		t.Errorf("last record = %v", last)
	}
}

func TestAgentMonitorBadLevel(t *testing.T) {
	n := monitorNode(t)
	_, err := client(t, n).Agent().Monitor("loud", make(chan struct{}), nil)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("err = %v, want a 400", err)
	}
}

// A client that connects and stops reading must not hold up the agent's
// logging; when it reads again it is told how many lines it missed.
func TestAgentMonitorSlowClientDoesNotBlockLogging(t *testing.T) {
	n := monitorNode(t)
	log := n.Agent.LoggerForTest()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.HTTPAddr+"/v1/agent/monitor?loglevel=debug", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// About 20 MB of lines: far more than the socket buffers and the
	// monitor's own buffer hold.
	const lines = 100000
	pad := strings.Repeat("x", 100)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range lines {
			log.Debug("monitor test: flood", "i", i, "pad", pad)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("logging blocked behind a monitor client that does not read")
	}
	t.Logf("%d lines logged in %v with a stalled monitor client", lines, time.Since(start))

	// Every flood line is either delivered or counted in a drop notice
	// that comes before the next delivered line.
	type tally struct {
		delivered, dropped int
		err                string
	}
	sc := bufio.NewScanner(resp.Body)
	found := make(chan tally, 1)
	go func() {
		var tl tally
		for sc.Scan() {
			l := sc.Text()
			if i := strings.Index(l, "Monitor dropped "); i >= 0 {
				var d int
				fmt.Sscanf(l[i+len("Monitor dropped "):], "%d", &d)
				tl.dropped += d
			}
			if strings.Contains(l, "monitor test: flood") {
				tl.delivered++
			}
			if strings.Contains(l, "monitor test: after") {
				found <- tl
				return
			}
		}
		tl.err = "stream ended"
		found <- tl
	}()
	// Lines logged after reading resumed arrive, after the backlog.
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case tl := <-found:
			if tl.err != "" {
				t.Fatal(tl.err)
			}
			t.Logf("delivered %d, dropped %d", tl.delivered, tl.dropped)
			// Drop notices also count other lines the agent logged
			// meanwhile (its own debug lines, the "after" lines below),
			// so the sum may pass the flood; it may never fall short.
			if tl.dropped == 0 || tl.delivered > lines || tl.delivered+tl.dropped < lines {
				t.Fatalf("delivered %d + dropped %d, want at least %d with some dropped", tl.delivered, tl.dropped, lines)
			}
			return
		case <-tick.C:
			log.Info("monitor test: after")
		case <-deadline:
			t.Fatal("no later line within 20s")
		}
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-io/meridian/internal/testcluster"
)

// lineLog collects the lines a command writes, for polling.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) find(match func(string) bool) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if match(s) {
			return s, true
		}
	}
	return "", false
}

// TestMonitorCommandAgainstAgent runs `meridian monitor` against a real
// agent, makes the agent log (a reload logs "configuration reloaded" at
// info), and stops the command as an interrupt would.
func TestMonitorCommandAgainstAgent(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	n := c.WaitForLeader(10 * time.Second)
	cl, err := api.NewClient(&api.Config{Address: n.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want func(line string) bool
	}{
		{"text", []string{"-log-level=debug"}, func(l string) bool {
			return strings.Contains(l, `level=INFO msg="configuration reloaded"`) && strings.Contains(l, "node="+n.Name)
		}},
		{"json", []string{"-log-level=info", "-log-json"}, func(l string) bool {
			var rec map[string]any
			return json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "configuration reloaded" && rec["level"] == "INFO"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			var stderr strings.Builder
			e := &cmdEnv{ctx: ctx, stdin: strings.NewReader(""), stdout: pw, stderr: &stderr,
				getenv: func(k string) string {
					if k == "MERIDIAN_HTTP_ADDR" {
						return n.HTTPAddr
					}
					return ""
				}}
			done := make(chan int, 1)
			go func() {
				code := runMonitor(e, tc.args)
				pw.Close()
				done <- code
			}()
			var out lineLog
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					out.mu.Lock()
					out.lines = append(out.lines, sc.Text())
					out.mu.Unlock()
				}
			}()
			// The command attaches at some point after it starts: reload
			// until a reload's line comes through.
			testcluster.WaitFor(t, 20*time.Second, func() error {
				if _, ok := out.find(tc.want); ok {
					return nil
				}
				if err := cl.Agent().Reload(); err != nil {
					return err
				}
				return fmt.Errorf("no reload line yet")
			})
			cancel()
			select {
			case code := <-done:
				if code != exitOK || stderr.String() != "" {
					t.Fatalf("exit %d, stderr %q", code, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("monitor did not stop within 10s of the interrupt")
			}
			<-readDone
		})
	}
}

// When the agent goes away the command says so on one line and exits 1.
func TestMonitorCommandAgentGone(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Servers: 1})
	n := c.WaitForLeader(10 * time.Second)
	pr, pw := io.Pipe()
	var stderr strings.Builder
	e := &cmdEnv{ctx: context.Background(), stdin: strings.NewReader(""), stdout: pw, stderr: &stderr,
		getenv: func(k string) string {
			if k == "MERIDIAN_HTTP_ADDR" {
				return n.HTTPAddr
			}
			return ""
		}}
	done := make(chan int, 1)
	go func() {
		code := runMonitor(e, []string{"-log-level=trace"})
		pw.Close()
		done <- code
	}()
	firstLine := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for first := true; sc.Scan(); first = false {
			if first {
				close(firstLine)
			}
		}
	}()
	// The stream is up once a line came through; reloads make lines.
	cl, err := api.NewClient(&api.Config{Address: n.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 20*time.Second, func() error {
		select {
		case <-firstLine:
			return nil
		default:
		}
		if err := cl.Agent().Reload(); err != nil {
			return err
		}
		return fmt.Errorf("no line yet")
	})
	c.Stop(n)
	select {
	case code := <-done:
		if code != exitError || !strings.Contains(stderr.String(), "Remote side ended the monitor") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("monitor did not end within 15s of the agent stopping")
	}
}

func TestMonitorCommandBadLevel(t *testing.T) {
	res := runCLI(t, nil, map[string]string{"MERIDIAN_HTTP_ADDR": "127.0.0.1:1"}, "", "monitor", "-log-level=loud")
	assertOneLineError(t, res, exitUsage, "unknown log level")
}

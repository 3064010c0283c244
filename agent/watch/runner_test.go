package watch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewRunnerErrors(t *testing.T) {
	cases := []struct {
		name string
		defs []map[string]any
		addr string
		want string
	}{
		{"no handler", []map[string]any{{"type": "nodes"}}, "127.0.0.1:8500", `watches[0]: invalid watch: a nodes watch needs a handler`},
		{"bad second", []map[string]any{{"type": "nodes", "args": []any{"x"}}, {"type": "nope"}}, "127.0.0.1:8500", `watches[1]: invalid watch: unsupported watch type "nope"`},
		{"bad address", nil, "ftp://x", `unsupported scheme "ftp"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRunner(tc.defs, tc.addr, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRunner = %v, %v; want an error containing %q", r, err, tc.want)
			}
			if tc.addr != "ftp://x" && !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestRunnerRunsScriptAndHTTPWatches(t *testing.T) {
	agent := newBlockingAgent(t, 3, `{"web":[]}`)
	hook, got := newHook(t, 200)
	dir := t.TempDir()
	r, err := NewRunner([]map[string]any{
		{"type": "services", "args": []any{"/bin/sh", "-c", `cat >> "$0/seen"`, dir}},
		{"type": "services", "handler_type": "http", "http_handler_config": map[string]any{"path": hook.URL}},
	}, agent.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	r.Start()
	r.Start() // a second Start does nothing
	t.Cleanup(r.Stop)

	if req := <-got; req.index != "3" || req.body != `{"web":[]}`+"\n" {
		t.Errorf("http handler got %+v", req)
	}
	waitFor(t, func() error {
		b, _ := os.ReadFile(filepath.Join(dir, "seen"))
		if string(b) != `{"web":[]}`+"\n" {
			return fmt.Errorf("script saw %q", b)
		}
		return nil
	})
	agent.waitQuery("3")
	agent.set(4, `{"web":[],"db":["v1"]}`)
	select {
	case req := <-got:
		if req.index != "4" {
			t.Errorf("second http call index %s, want 4", req.index)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no second http handler call")
	}

	done := make(chan struct{})
	go func() { r.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not return")
	}
	r.Stop()  // again: no-op
	r.Start() // after Stop: no-op (goleak checks nothing was left running)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		t.Error("runner not marked stopped")
	}
}

func TestRunnerStopBeforeStart(t *testing.T) {
	r, err := NewRunner(nil, "127.0.0.1:8500", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	r.Start()
	r.Stop()
	if r.cancel != nil {
		t.Error("Start after Stop started the watches")
	}
}

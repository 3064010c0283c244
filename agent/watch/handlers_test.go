package watch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestScriptHandlerGetsJSONAndIndex(t *testing.T) {
	dir := t.TempDir()
	script := `cat > "$1/in.$CONSUL_INDEX"; echo "$CONSUL_INDEX $MERIDIAN_INDEX" >> "$1/env"; echo out-$CONSUL_INDEX; echo err >&2`
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := ScriptHandler(t.Context(), []string{"/bin/sh", "-c", script, "handler", dir}, logger)

	h(42, map[string]any{"Key": "a", "Flags": 1})
	h(43, nil)

	if got, want := readFile(t, filepath.Join(dir, "in.42")), `{"Flags":1,"Key":"a"}`+"\n"; got != want {
		t.Errorf("stdin at 42 = %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "in.43")); got != "null\n" {
		t.Errorf("stdin at 43 = %q, want null", got)
	}
	if got := readFile(t, filepath.Join(dir, "env")); got != "42 42\n43 43\n" {
		t.Errorf("env lines = %q, want CONSUL_INDEX and MERIDIAN_INDEX of each call in order", got)
	}
	if !strings.Contains(logs.String(), "out-42") || !strings.Contains(logs.String(), "err") {
		t.Errorf("handler output not logged: %s", logs.String())
	}
}

func TestScriptHandlerLogsFailure(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ScriptHandler(t.Context(), []string{"/bin/sh", "-c", "echo broken; exit 3"}, logger)(1, nil)
	ScriptHandler(t.Context(), []string{filepath.Join(t.TempDir(), "missing")}, logger)(2, nil)
	out := logs.String()
	if strings.Count(out, "level=ERROR msg=\"watch handler failed\"") != 2 || !strings.Contains(out, "exit status 3") || !strings.Contains(out, "broken") {
		t.Errorf("logs = %s", out)
	}
}

// TestRunScriptStopsWithContext: a handler still running when its watch
// stops gets SIGTERM and RunScript returns.
func TestRunScriptStopsWithContext(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	script := `trap 'echo term > "$1/term"; exit 0' TERM; touch "$1/started"; while :; do sleep 0.01; done`
	go func() {
		done <- RunScript(ctx, []string{"/bin/sh", "-c", script, "h", dir}, 1, nil, io.Discard, io.Discard)
	}()
	waitFor(t, func() error { _, err := os.Stat(filepath.Join(dir, "started")); return err })
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("RunScript did not return after its context ended")
	}
	if got := readFile(t, filepath.Join(dir, "term")); got != "term\n" {
		t.Errorf("handler did not see SIGTERM: %q", got)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 8}
	fmt.Fprint(b, "0123456789")
	fmt.Fprint(b, "ab")
	if got := b.String(); got != "456789ab" {
		t.Errorf("tail = %q", got)
	}
}

type hookRequest struct {
	method, contentType, index, custom string
	body                               string
}

func newHook(t *testing.T, status int) (*httptest.Server, chan hookRequest) {
	t.Helper()
	got := make(chan hookRequest, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- hookRequest{r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Consul-Index"),
			strings.Join(r.Header.Values("X-Custom"), ","), string(body)}
		w.WriteHeader(status)
		fmt.Fprint(w, "nope")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestHTTPHandler(t *testing.T) {
	srv, got := newHook(t, http.StatusOK)
	var logs syncBuffer
	h := HTTPHandler(t.Context(), HTTPHandlerConfig{
		Path: srv.URL + "/hook", Method: "PUT", Header: map[string][]string{"X-Custom": {"a", "b"}},
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	h(17, []any{"web", "db"})
	r := <-got
	want := hookRequest{"PUT", "application/json", "17", "a,b", `["web","db"]` + "\n"}
	if r != want {
		t.Errorf("request = %+v, want %+v", r, want)
	}
	if logs.String() != "" {
		t.Errorf("unexpected logs: %s", logs.String())
	}
}

func TestHTTPHandlerLogsFailures(t *testing.T) {
	srv, got := newHook(t, http.StatusBadGateway)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	HTTPHandler(t.Context(), HTTPHandlerConfig{Path: srv.URL}, logger)(3, nil)
	if r := <-got; r.method != "POST" || r.body != "null\n" {
		t.Errorf("request = %+v, want a POST of null", r)
	}
	HTTPHandler(t.Context(), HTTPHandlerConfig{Path: "http://127.0.0.1:1/", Timeout: time.Second}, logger)(4, nil)
	out := logs.String()
	if !strings.Contains(out, "response code 502 (nope)") || strings.Count(out, "watch http handler failed") != 2 {
		t.Errorf("logs = %s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package watch

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	consulwatch "github.com/hashicorp/consul/api/watch"
)

// Bounds of the handlers.
const (
	// scriptStopGrace is how long a script handler has between SIGTERM (its
	// watch stopped) and SIGKILL.
	scriptStopGrace = 5 * time.Second
	// maxScriptOutput is how much of a script handler's output the agent
	// keeps for its log (the tail).
	maxScriptOutput = 4 << 10
	// DefaultHTTPHandlerTimeout bounds one call of an http handler.
	DefaultHTTPHandlerTimeout = consulwatch.DefaultTimeout
	// maxErrorBody is how much of an http handler's error answer is logged.
	maxErrorBody    = 4 << 10
	indexHeader     = "X-Consul-Index"
	contentTypeJSON = "application/json"
)

// HandlerFunc receives a watch's result and the index it was read at: the
// official client's typed result (a *api.KVPair for a key, []*api.KVPair
// for a prefix, []*api.UserEvent of the new events, ...), or nil for a
// missing key.
type HandlerFunc = consulwatch.HandlerFunc

// ScriptEnv returns the variables a script handler gets on top of the
// process environment: CONSUL_INDEX and MERIDIAN_INDEX.
func ScriptEnv(index uint64) []string {
	s := strconv.FormatUint(index, 10)
	return []string{"CONSUL_INDEX=" + s, "MERIDIAN_INDEX=" + s}
}

// EncodeResult is the JSON a handler is given: result as one line with a
// trailing newline, as Consul writes it.
func EncodeResult(result any) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(result); err != nil {
		return nil, fmt.Errorf("encode watch result: %w", err)
	}
	return buf.Bytes(), nil
}

// RunScript runs args[0] with args[1:] once for a result: the result's
// JSON on stdin, ScriptEnv(index) added to the environment, its output
// written to stdout and stderr. The process runs in its own process group;
// when ctx ends, the group gets SIGTERM and, 5s later, SIGKILL. It returns
// the error of a process that could not start or did not exit with 0.
func RunScript(ctx context.Context, args []string, index uint64, result any, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("watch: empty handler command")
	}
	input, err := EncodeResult(result)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), ScriptEnv(index)...)
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return terminateGroup(cmd.Process) }
	cmd.WaitDelay = scriptStopGrace
	return cmd.Run()
}

// ScriptHandler is the handler of a script watch: it runs args for every
// result (see RunScript) and logs failures and, at debug level, the
// output. Runs stop when ctx ends.
func ScriptHandler(ctx context.Context, args []string, logger *slog.Logger) HandlerFunc {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	args = append([]string(nil), args...)
	return func(index uint64, result any) {
		out := &tailBuffer{max: maxScriptOutput}
		err := RunScript(ctx, args, index, result, out, out)
		if err != nil && ctx.Err() == nil {
			logger.Error("watch handler failed", "handler", strings.Join(args, " "), "index", index, "error", err, "output", out.String())
			return
		}
		logger.Debug("watch handler output", "handler", strings.Join(args, " "), "index", index, "output", out.String())
	}
}

// HTTPHandler is the handler of an http watch: for every result it sends
// the JSON with cfg.Method to cfg.Path, with X-Consul-Index and cfg.Header,
// within cfg.Timeout, and logs a failure or a non-2xx answer. Requests stop
// when ctx ends.
func HTTPHandler(ctx context.Context, cfg HTTPHandlerConfig, logger *slog.Logger) HandlerFunc {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHTTPHandlerTimeout
	}
	tr := &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DisableKeepAlives: true, // one request per change: keep no idle connection (or goroutine) behind
	}
	if cfg.TLSSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the watch definition
	}
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	return func(index uint64, result any) {
		if err := postResult(ctx, client, cfg, index, result); err != nil && ctx.Err() == nil {
			logger.Error("watch http handler failed", "path", cfg.Path, "index", index, "error", err)
		}
	}
}

func postResult(ctx context.Context, client *http.Client, cfg HTTPHandlerConfig, index uint64, result any) error {
	body, err := EncodeResult(result)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.Path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentTypeJSON)
	req.Header.Set(indexHeader, strconv.FormatUint(index, 10))
	for name, values := range cfg.Header {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: response code %d (%s)", cfg.Method, cfg.Path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it. It is safe for the
// concurrent writes of a process's stdout and stderr copiers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Bounds of one HTTP exchange with the agent.
const (
	dialTimeout           = 10 * time.Second
	responseHeaderTimeout = 60 * time.Second
	maxErrorBody          = 4 << 10 // bytes of a non-200 body kept for the message
	maxResponseBody       = 1 << 30 // bytes of a 200 body read at most

	contentTypeRaw = "application/octet-stream"
)

// statusError is a non-200 answer from the agent. Its message has Consul's
// wording, `Unexpected response code: 500 (No cluster leader)`, so scripts
// and people matching on it keep working.
type statusError struct {
	code int
	body string // the server's reason, folded onto one line
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("Unexpected response code: %d", e.code)
	}
	return fmt.Sprintf("Unexpected response code: %d (%s)", e.code, e.body)
}

// isNotFound reports whether err is a 404 from the agent (a missing key for
// the KV endpoints).
func isNotFound(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.code == http.StatusNotFound
}

// apiClient is a minimal client of the agent's Consul-compatible HTTP API.
// It owns its transport; close releases the idle connections so a command
// leaves no goroutine behind.
type apiClient struct {
	base      url.URL // scheme, host and optional path prefix
	token     string
	dc        string
	stale     bool
	transport *http.Transport
	http      *http.Client
}

func newAPIClient(base url.URL, token, dc string, stale bool) *apiClient {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   2,
	}
	return &apiClient{
		base:      base,
		token:     token,
		dc:        dc,
		stale:     stale,
		transport: tr,
		http:      &http.Client{Transport: tr},
	}
}

// close releases the client's idle connections.
func (c *apiClient) close() { c.transport.CloseIdleConnections() }

// apiRequest is one call of the HTTP API.
type apiRequest struct {
	method string
	path   string     // unescaped path below the API root, e.g. "/v1/kv/a b"
	query  url.Values // may be nil
	body   []byte     // raw body, sent as application/octet-stream; nil for none
	read   bool       // a read: carries ?stale when the client is stale
}

// send performs r and returns the body of a 200 response. Any other status
// is a *statusError; transport failures are returned as they are.
func (c *apiClient) send(ctx context.Context, r apiRequest) ([]byte, error) {
	u := c.base
	u.Path = c.base.Path + r.path
	q := url.Values{}
	for k, vs := range r.query {
		q[k] = append([]string(nil), vs...)
	}
	if c.dc != "" {
		q.Set("dc", c.dc)
	}
	if r.read && c.stale {
		q.Set("stale", "")
	}
	u.RawQuery = q.Encode()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", contentTypeRaw)
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, &statusError{code: resp.StatusCode, body: oneLine(string(msg))}
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", r.method, r.path, err)
	}
	return out, nil
}

// getJSON performs a read of path and decodes its JSON answer into out.
func (c *apiClient) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	b, err := c.send(ctx, apiRequest{method: http.MethodGet, path: path, query: query, read: true})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response of GET %s: %w", path, err)
	}
	return nil
}

// writeBool performs a write whose answer is `true` or `false` (KV put,
// CAS, acquire, release, delete) and reports which, like the Go client
// does: any body containing "true" is success.
func (c *apiClient) writeBool(ctx context.Context, r apiRequest) (bool, error) {
	b, err := c.send(ctx, r)
	if err != nil {
		return false, err
	}
	return strings.Contains(string(b), "true"), nil
}

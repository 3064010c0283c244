package watch

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
	"strconv"
	"strings"
	"time"
)

// Bounds of one blocking query.
const (
	dialTimeout     = 10 * time.Second
	queryGrace      = 15 * time.Second // beyond wait + jitter before a query is abandoned
	maxErrorBody    = 4 << 10
	maxResultBody   = 256 << 20
	indexHeader     = "X-Consul-Index"
	tokenHeader     = "X-Consul-Token"
	contentTypeJSON = "application/json"
)

// ErrQuery is wrapped by the errors of a failed query: the agent answered
// with an unexpected status, or an unusable body or index.
var ErrQuery = errors.New("watch query failed")

// ParseAddr reads an agent HTTP address: host:port, or an http:// or
// https:// URL with an optional path prefix. It returns the API root.
func ParseAddr(addr string) (url.URL, error) {
	raw := strings.TrimSpace(addr)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: unsupported scheme %q (want http or https)", addr, u.Scheme)
	}
	if u.Hostname() == "" {
		return url.URL{}, fmt.Errorf("invalid HTTP address %q: missing host", addr)
	}
	return url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}, nil
}

// querier runs the blocking queries of one plan against one agent. It owns
// its transport; close releases its connections.
type querier struct {
	plan      *Plan
	base      url.URL
	wait      time.Duration
	transport *http.Transport
	client    *http.Client
}

func newQuerier(p *Plan, base url.URL) *querier {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 1,
	}
	wait := p.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	return &querier{plan: p, base: base, wait: wait, transport: tr, client: &http.Client{Transport: tr}}
}

func (q *querier) close() { q.transport.CloseIdleConnections() }

// endpoint returns the API path and the type's own query parameters.
func (q *querier) endpoint() (string, url.Values) {
	p := q.plan
	v := url.Values{}
	var path string
	switch p.Type {
	case TypeKey:
		path = "/v1/kv/" + p.Key
	case TypeKeyPrefix:
		path = "/v1/kv/" + p.Prefix
		v.Set("recurse", "")
	case TypeServices:
		path = "/v1/catalog/services"
	case TypeNodes:
		path = "/v1/catalog/nodes"
	case TypeService:
		path = "/v1/health/service/" + p.Service
		for _, t := range p.Tags {
			v.Add("tag", t)
		}
		if p.PassingOnly {
			v.Set("passing", "1")
		}
	case TypeChecks:
		if p.State != "" {
			path = "/v1/health/state/" + p.State
		} else {
			path = "/v1/health/checks/" + p.Service
		}
	case TypeEvent:
		path = "/v1/event/list"
		if p.Name != "" {
			v.Set("name", p.Name)
		}
	}
	if p.Filter != "" {
		v.Set("filter", p.Filter)
	}
	if p.Stale && p.Type != TypeEvent {
		v.Set("stale", "")
	}
	if p.Datacenter != "" {
		v.Set("dc", p.Datacenter)
	}
	return path, v
}

// fetch runs one query, blocking while the result's index is still index
// (0: answer at once). It returns the new index and the result (see HandlerFunc).
func (q *querier) fetch(ctx context.Context, index uint64) (uint64, any, error) {
	path, params := q.endpoint()
	if index > 0 {
		params.Set("index", strconv.FormatUint(index, 10))
		params.Set("wait", strconv.FormatInt(q.wait.Milliseconds(), 10)+"ms")
	}
	u := q.base
	u.Path = q.base.Path + path
	u.RawQuery = params.Encode()

	ctx, cancel := context.WithTimeout(ctx, q.wait+q.wait/16+queryGrace)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	if q.plan.Token != "" {
		req.Header.Set(tokenHeader, q.plan.Token)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()

	isKV := q.plan.Type == TypeKey || q.plan.Type == TypeKeyPrefix
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound && isKV:
		// A missing key or an empty prefix: no result, but an index.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		idx, err := parseIndex(resp.Header)
		return idx, nil, err
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return 0, nil, fmt.Errorf("%w: GET %s: unexpected response code %d (%s)",
			ErrQuery, path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	idx, err := parseIndex(resp.Header)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResultBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read response of GET %s: %w", path, err)
	}
	raw, err := compactJSON(body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: decode response of GET %s: %v", ErrQuery, path, err)
	}
	if q.plan.Type != TypeKey {
		return idx, raw, nil
	}
	first, err := firstElement(raw)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: decode response of GET %s: %v", ErrQuery, path, err)
	}
	return idx, first, nil
}

func parseIndex(h http.Header) (uint64, error) {
	raw := h.Get(indexHeader)
	if raw == "" {
		return 0, fmt.Errorf("%w: response has no %s header", ErrQuery, indexHeader)
	}
	idx, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: invalid %s %q", ErrQuery, indexHeader, raw)
	}
	return idx, nil
}

// compactJSON checks that b is one JSON value and returns it compacted.
// Results stay raw JSON so handlers get exactly what the agent sent: field
// order, and 64-bit numbers (flags, indexes) no float could hold.
func compactJSON(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	if buf.Len() == 0 {
		return nil, errors.New("empty body")
	}
	return json.RawMessage(buf.Bytes()), nil
}

// firstElement turns the one-element array of a single-key read into the
// entry itself, as Consul's key watch hands it over; an empty array gives
// nil.
func firstElement(v json.RawMessage) (any, error) {
	var l []json.RawMessage
	if err := json.Unmarshal(v, &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l[0], nil
}

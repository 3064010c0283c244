package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// UserAgent is sent by HTTP checks unless the definition sets one.
const UserAgent = "Consul Health Check"

// httpProbe is an HTTP check: 2xx is passing, 429 warning, anything else
// or a transport error critical.
type httpProbe struct {
	spec      *CheckSpec
	method    string
	client    *http.Client
	transport *http.Transport
}

func newHTTPProbe(spec *CheckSpec) *httpProbe {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: spec.Timeout}).DialContext,
		TLSHandshakeTimeout:   spec.Timeout,
		DisableKeepAlives:     true,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConfig(spec),
	}
	client := &http.Client{Transport: transport, Timeout: spec.Timeout}
	if spec.DisableRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	method := spec.Method
	if method == "" {
		method = http.MethodGet
	}
	return &httpProbe{spec: spec, method: method, client: client, transport: transport}
}

func tlsConfig(spec *CheckSpec) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: spec.TLSSkipVerify, //nolint:gosec // the user's choice, as in Consul
		ServerName:         spec.TLSServerName,
	}
}

func (p *httpProbe) check(ctx context.Context) (string, string) {
	defer p.transport.CloseIdleConnections()
	var body io.Reader
	if p.spec.Body != "" {
		body = strings.NewReader(p.spec.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.spec.HTTP, body)
	if err != nil {
		return StatusCritical, err.Error()
	}
	for k, vs := range p.spec.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/plain, text/*, */*")
	}

	resp, err := p.client.Do(req)
	if err != nil {
		return StatusCritical, err.Error()
	}
	defer resp.Body.Close()
	out := newTailBuffer(p.spec.OutputMaxSize)
	_, _ = io.Copy(out, resp.Body) // a body cut short still reports the status

	result := fmt.Sprintf("HTTP %s %s: %s Output: %s", p.method, p.spec.HTTP, resp.Status, out.String())
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return StatusPassing, result
	case resp.StatusCode == http.StatusTooManyRequests:
		return StatusWarning, result
	default:
		return StatusCritical, result
	}
}

package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestH2PingProbe: an HTTP/2 server answers the PING, over TLS and in
// cleartext (h2c); a server without HTTP/2, a certificate that does not
// verify and a closed port are critical.
func TestH2PingProbe(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tlsSrv := httptest.NewUnstartedServer(ok)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h2cSrv := &http.Server{Handler: ok, Protocols: &h2c}
	go h2cSrv.Serve(ln)
	t.Cleanup(func() { h2cSrv.Close() })

	http1 := httptest.NewServer(ok) // HTTP/1.1 only
	t.Cleanup(http1.Close)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	host := func(s *httptest.Server) string {
		return strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://")
	}
	cases := []struct {
		name      string
		def       CheckDefinition
		status    string
		outputHas string
	}{
		{"tls", CheckDefinition{H2PING: host(tlsSrv), H2PingUseTLS: true, TLSSkipVerify: true}, StatusPassing, "HTTP2 ping was successful"},
		{"tls unverified", CheckDefinition{H2PING: host(tlsSrv), H2PingUseTLS: true}, StatusCritical, "Failed to dial"},
		{"h2c", CheckDefinition{H2PING: ln.Addr().String()}, StatusPassing, "HTTP2 ping was successful"},
		{"no http2", CheckDefinition{H2PING: host(http1)}, StatusCritical, "Failed to ping"},
		{"closed", CheckDefinition{H2PING: closedAddr}, StatusCritical, "Failed to dial"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.def.Timeout = 5 * time.Second
			spec := &CheckSpec{CheckDefinition: tc.def, Type: TypeH2Ping}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			status, output := h2pingProbe(spec)(ctx)
			if status != tc.status || !strings.Contains(output, tc.outputHas) {
				t.Errorf("status %s output %q, want %s and %q", status, output, tc.status, tc.outputHas)
			}
		})
	}
}

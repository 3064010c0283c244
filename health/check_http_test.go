package health

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func httpSpec(url string) *CheckSpec {
	return &CheckSpec{
		CheckDefinition: CheckDefinition{HTTP: url, Interval: time.Second, Timeout: 10 * time.Second},
		Type:            TypeHTTP,
		OutputMaxSize:   DefaultOutputMaxSize,
	}
}

func TestHTTPCheckStatuses(t *testing.T) {
	cases := []struct {
		code   int
		status string
		text   string
	}{
		{200, StatusPassing, "200 OK"},
		{204, StatusPassing, "204 No Content"},
		{299, StatusPassing, "299 status code 299"},
		{429, StatusWarning, "429 Too Many Requests"},
		{300, StatusCritical, "300 Multiple Choices"},
		{404, StatusCritical, "404 Not Found"},
		{503, StatusCritical, "503 Service Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, "body text")
			}))
			defer srv.Close()
			status, output := newHTTPProbe(httpSpec(srv.URL)).check(context.Background())
			if status != tc.status {
				t.Fatalf("status %q, want %q (output %q)", status, tc.status, output)
			}
			want := "HTTP GET " + srv.URL + ": " + tc.text + " Output: "
			if tc.code != 204 {
				want += "body text"
			}
			if output != want {
				t.Fatalf("output %q, want %q", output, want)
			}
		})
	}
}

func TestHTTPCheckRequest(t *testing.T) {
	type seen struct {
		method, body, ua, accept, custom, host, connection string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, string(b), r.UserAgent(), r.Header.Get("Accept"), r.Header.Get("X-Custom"), r.Host, r.Header.Get("Connection")}
	}))
	defer srv.Close()

	spec := httpSpec(srv.URL + "/health")
	spec.Method = "PUT"
	spec.Body = `{"ping":1}`
	spec.Header = map[string][]string{"X-Custom": {"yes"}, "Host": {"app.example"}}
	status, output := newHTTPProbe(spec).check(context.Background())
	if status != StatusPassing || !strings.HasPrefix(output, "HTTP PUT "+srv.URL+"/health: 200 OK") {
		t.Fatalf("%s %q", status, output)
	}
	s := <-got
	if s.method != "PUT" || s.body != `{"ping":1}` || s.custom != "yes" || s.host != "app.example" {
		t.Fatalf("request %+v", s)
	}
	if s.ua != "Consul Health Check" || s.accept != "text/plain, text/*, */*" {
		t.Fatalf("default headers %+v", s)
	}
	if s.connection != "close" {
		t.Fatalf("keep-alives not disabled: Connection %q", s.connection)
	}
}

func TestHTTPCheckOutputCapped(t *testing.T) {
	body := strings.Repeat("a", 100) + strings.Repeat("z", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	_, output := newHTTPProbe(httpSpec(srv.URL)).check(context.Background())
	_, kept, _ := strings.Cut(output, " Output: ")
	if len(kept) != DefaultOutputMaxSize || kept != body[len(body)-DefaultOutputMaxSize:] {
		t.Fatalf("kept %d bytes", len(kept))
	}
}

func TestHTTPCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	spec := httpSpec(srv.URL)
	spec.Timeout = 50 * time.Millisecond
	status, output := newHTTPProbe(spec).check(context.Background())
	if status != StatusCritical || !strings.Contains(output, "Client.Timeout exceeded") {
		t.Fatalf("%s %q", status, output)
	}
}

func TestHTTPCheckConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	status, output := newHTTPProbe(httpSpec(url)).check(context.Background())
	if status != StatusCritical || !strings.Contains(output, "connection refused") {
		t.Fatalf("%s %q", status, output)
	}
}

func TestHTTPCheckTLS(t *testing.T) {
	sni := make(chan string, 10)
	srv := newQuietTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni <- r.TLS.ServerName
		_, _ = io.WriteString(w, "secure")
	}))
	defer srv.Close()

	status, output := newHTTPProbe(httpSpec(srv.URL)).check(context.Background())
	if status != StatusCritical || !strings.Contains(output, "certificate") {
		t.Fatalf("unverified cert accepted: %s %q", status, output)
	}
	spec := httpSpec(srv.URL)
	spec.TLSSkipVerify = true
	status, output = newHTTPProbe(spec).check(context.Background())
	if status != StatusPassing || output != "HTTP GET "+srv.URL+": 200 OK Output: secure" {
		t.Fatalf("%s %q", status, output)
	}
	<-sni
	// TLSServerName is what the check asks the server for (SNI).
	spec.TLSServerName = "app.example"
	if status, output = newHTTPProbe(spec).check(context.Background()); status != StatusPassing {
		t.Fatalf("server name with skip verify: %s %q", status, output)
	}
	if got := <-sni; got != "app.example" {
		t.Fatalf("server saw SNI %q", got)
	}
}

func TestHTTPCheckRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusFound) })
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "moved") })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	status, output := newHTTPProbe(httpSpec(srv.URL + "/old")).check(context.Background())
	if status != StatusPassing || !strings.HasSuffix(output, "200 OK Output: moved") {
		t.Fatalf("followed: %s %q", status, output)
	}
	spec := httpSpec(srv.URL + "/old")
	spec.DisableRedirects = true
	status, output = newHTTPProbe(spec).check(context.Background())
	if status != StatusCritical || !strings.Contains(output, ": 302 Found Output: ") {
		t.Fatalf("not followed: %s %q", status, output)
	}
}

// newQuietTLSServer is httptest.NewTLSServer without logging the handshake
// errors that the tests provoke.
func newQuietTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

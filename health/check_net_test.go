package health

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func netSpec(typ string, def CheckDefinition) *CheckSpec {
	if def.Timeout == 0 {
		def.Timeout = 10 * time.Second
	}
	def.Interval = time.Second
	return &CheckSpec{CheckDefinition: def, Type: typ, OutputMaxSize: DefaultOutputMaxSize}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		return addr
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestTCPCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()

	status, output := tcpProbe(netSpec(TypeTCP, CheckDefinition{TCP: addr}))(context.Background())
	if status != StatusPassing || output != "TCP connect "+addr+": Success" {
		t.Fatalf("%s %q", status, output)
	}
	closed := closedAddr(t, "tcp")
	status, output = tcpProbe(netSpec(TypeTCP, CheckDefinition{TCP: closed}))(context.Background())
	if status != StatusCritical || !strings.Contains(output, "connection refused") {
		t.Fatalf("%s %q", status, output)
	}
}

func TestTCPCheckTLS(t *testing.T) {
	srv := newQuietTLSServer(http.NotFoundHandler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	status, output := tcpProbe(netSpec(TypeTCP, CheckDefinition{TCP: addr, TCPUseTLS: true}))(context.Background())
	if status != StatusCritical {
		t.Fatalf("unverified TLS accepted: %s %q", status, output)
	}
	spec := netSpec(TypeTCP, CheckDefinition{TCP: addr, TCPUseTLS: true, TLSSkipVerify: true})
	status, output = tcpProbe(spec)(context.Background())
	if status != StatusPassing || output != "TCP+TLS connect "+addr+": Success" {
		t.Fatalf("%s %q", status, output)
	}
}

func TestUDPCheck(t *testing.T) {
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteTo(buf[:n], from)
		}
	}()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	cases := []struct {
		name, addr, status, output string
	}{
		{"reply", echo.LocalAddr().String(), StatusPassing, "UDP connect " + echo.LocalAddr().String() + ": Success"},
		{"silent until timeout", silent.LocalAddr().String(), StatusPassing, "UDP connect " + silent.LocalAddr().String() + ": Success"},
		{"port unreachable", closedAddr(t, "udp"), StatusCritical, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := netSpec(TypeUDP, CheckDefinition{UDP: tc.addr, Timeout: 200 * time.Millisecond})
			status, output := udpProbe(spec)(context.Background())
			if status != tc.status || !strings.Contains(output, tc.output) {
				t.Fatalf("%s %q, want %s %q", status, output, tc.status, tc.output)
			}
		})
	}
}

func TestGRPCCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(l) }()
	defer func() { srv.Stop(); <-served }()
	addr := l.Addr().String()

	cases := []struct {
		name, target, status, output string
	}{
		{"serving", addr, StatusPassing, "gRPC check " + addr + ": success"},
		{"not serving", addr + "/db", StatusCritical, "gRPC " + addr + "/db serving status: NOT_SERVING"},
		{"unknown service", addr + "/nope", StatusCritical, "code = NotFound"},
		{"nothing listening", closedAddr(t, "tcp"), StatusCritical, "code = Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, output := grpcProbe(netSpec(TypeGRPC, CheckDefinition{GRPC: tc.target}))(context.Background())
			if status != tc.status || !strings.Contains(output, tc.output) {
				t.Fatalf("%s %q, want %s %q", status, output, tc.status, tc.output)
			}
		})
	}
}

func TestGRPCCheckTimeout(t *testing.T) {
	// A listener that accepts and never speaks HTTP/2.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	defer func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	}()
	spec := netSpec(TypeGRPC, CheckDefinition{GRPC: l.Addr().String(), Timeout: 100 * time.Millisecond})
	status, output := grpcProbe(spec)(context.Background())
	if status != StatusCritical || !strings.Contains(output, "DeadlineExceeded") {
		t.Fatalf("%s %q", status, output)
	}
}

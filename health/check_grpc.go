package health

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcProbe is a gRPC check: it calls grpc.health.v1.Health/Check on
// "host:port[/service]"; SERVING is passing, anything else critical.
func grpcProbe(spec *CheckSpec) probeFunc {
	server, service, _ := strings.Cut(spec.GRPC, "/")
	creds := insecure.NewCredentials()
	if spec.GRPCUseTLS {
		creds = credentials.NewTLS(tlsConfig(spec))
	}
	return func(ctx context.Context) (string, string) {
		ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
		conn, err := grpc.NewClient("passthrough:///"+server, grpc.WithTransportCredentials(creds))
		if err != nil {
			return StatusCritical, err.Error()
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return StatusCritical, err.Error()
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return StatusCritical, fmt.Sprintf("gRPC %s serving status: %s", spec.GRPC, resp.GetStatus())
		}
		return StatusPassing, fmt.Sprintf("gRPC check %s: success", spec.GRPC)
	}
}

package health

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		def  CheckDefinition
		is   error  // errors.Is target, nil for valid
		msg  string // exact message
	}{
		{"http", CheckDefinition{HTTP: "http://x", Interval: time.Second}, nil, ""},
		{"ttl", CheckDefinition{TTL: time.Minute}, nil, ""},
		{"script", CheckDefinition{ScriptArgs: []string{"true"}, Interval: time.Second}, nil, ""},
		{"grpc with status", CheckDefinition{GRPC: "x:1", Interval: time.Second, Status: "passing"}, nil, ""},
		{"bad status", CheckDefinition{TTL: time.Minute, Status: "ok"}, ErrInvalidStatus,
			"Status for checks must 'passing', 'warning', 'critical'"},
		{"two types", CheckDefinition{HTTP: "http://x", TCP: "x:1", Interval: time.Second}, ErrInvalidCheck,
			"Only one of ScriptArgs, HTTP, TCP, UDP, GRPC, H2PING, TTL or an alias may be set"},
		{"http no interval", CheckDefinition{HTTP: "http://x"}, ErrInvalidCheck,
			"Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"},
		{"tcp no interval", CheckDefinition{TCP: "x:1"}, ErrInvalidCheck,
			"Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"},
		{"grpc no interval", CheckDefinition{GRPC: "x:1"}, ErrInvalidCheck,
			"Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"},
		{"script no interval", CheckDefinition{ScriptArgs: []string{"true"}}, ErrInvalidCheck,
			"Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"},
		{"negative interval", CheckDefinition{HTTP: "http://x", Interval: -time.Second}, ErrInvalidCheck,
			"Interval must not be negative"},
		{"negative timeout", CheckDefinition{HTTP: "http://x", Interval: time.Second, Timeout: -1}, ErrInvalidCheck,
			"Timeout must not be negative"},
		{"negative deregister", CheckDefinition{TTL: time.Minute, DeregisterCriticalServiceAfter: -1}, ErrInvalidCheck,
			"DeregisterCriticalServiceAfter must not be negative"},
		{"interval and ttl", CheckDefinition{TTL: time.Minute, Interval: time.Second}, ErrInvalidCheck,
			"Interval and TTL cannot both be specified"},
		{"no type", CheckDefinition{}, ErrInvalidCheck, "TTL must be > 0 for TTL checks"},
		{"negative ttl", CheckDefinition{TTL: -time.Second}, ErrInvalidCheck, "TTL must be > 0 for TTL checks"},
		{"warning above critical", CheckDefinition{TTL: time.Minute, FailuresBeforeWarning: 3, FailuresBeforeCritical: 2},
			ErrInvalidCheck, "FailuresBeforeWarning can't be higher than FailuresBeforeCritical"},
		{"negative threshold", CheckDefinition{TTL: time.Minute, SuccessBeforePassing: -1}, ErrInvalidCheck,
			"SuccessBeforePassing, FailuresBeforeWarning and FailuresBeforeCritical must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.def.Validate()
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("Validate = %v, want %v", err, tc.is)
			}
			if err.Error() != tc.msg {
				t.Fatalf("message %q, want %q", err.Error(), tc.msg)
			}
		})
	}
}

func TestServiceCheckDefaults(t *testing.T) {
	one := ServiceCheckDefaults("web-1", "web", []CheckDefinition{{TTL: time.Minute}})
	if one[0].ID != "service:web-1" || one[0].Name != "Service 'web' check" || one[0].ServiceID != "web-1" {
		t.Fatalf("one check: %+v", one[0])
	}
	in := []CheckDefinition{{TTL: time.Minute}, {ID: "mine", Name: "Mine", TTL: time.Minute}, {TTL: time.Minute}}
	many := ServiceCheckDefaults("web-1", "web", in)
	wantIDs := []string{"service:web-1:1", "mine", "service:web-1:3"}
	for i, d := range many {
		if d.ID != wantIDs[i] {
			t.Errorf("check %d ID %q, want %q", i, d.ID, wantIDs[i])
		}
	}
	if many[1].Name != "Mine" || many[2].Name != "Service 'web' check" {
		t.Fatalf("names %q %q", many[1].Name, many[2].Name)
	}
	if in[0].ID != "" {
		t.Fatal("ServiceCheckDefaults changed its input")
	}
}

func TestBuildCheckDefaults(t *testing.T) {
	svc := &pb.Service{Id: "web-1", Service: "web", Tags: []string{"v1"}}
	cases := []struct {
		name         string
		def          CheckDefinition
		svc          *pb.Service
		wantType     string
		wantInterval time.Duration
		wantTimeout  time.Duration
		wantStatus   string
		wantWarning  int
		wantDereg    time.Duration
	}{
		{"http clamped", CheckDefinition{Name: "h", HTTP: "http://x", Interval: 100 * time.Millisecond}, nil,
			TypeHTTP, time.Second, 10 * time.Second, StatusCritical, 0, 0},
		{"tcp timeout kept", CheckDefinition{Name: "t", TCP: "x:1", Interval: 5 * time.Second, Timeout: 2 * time.Second}, nil,
			TypeTCP, 5 * time.Second, 2 * time.Second, StatusCritical, 0, 0},
		{"script timeout", CheckDefinition{Name: "s", ScriptArgs: []string{"true"}, Interval: 5 * time.Second}, nil,
			TypeScript, 5 * time.Second, 30 * time.Second, StatusCritical, 0, 0},
		{"ttl given status", CheckDefinition{Name: "l", TTL: time.Minute, Status: StatusPassing}, nil,
			TypeTTL, 0, 10 * time.Second, StatusPassing, 0, 0},
		{"warning defaults to critical", CheckDefinition{Name: "g", GRPC: "x:1", Interval: time.Second, FailuresBeforeCritical: 3}, nil,
			TypeGRPC, time.Second, 10 * time.Second, StatusCritical, 3, 0},
		{"deregister raised", CheckDefinition{Name: "d", TTL: time.Minute, DeregisterCriticalServiceAfter: 10 * time.Second}, svc,
			TypeTTL, 0, 10 * time.Second, StatusCritical, 0, time.Minute},
		{"deregister ignored on node check", CheckDefinition{Name: "n", TTL: time.Minute, DeregisterCriticalServiceAfter: time.Hour}, nil,
			TypeTTL, 0, 10 * time.Second, StatusCritical, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := BuildOptions{NodeName: "node1", Service: tc.svc, Source: SourceLocal, EnableLocalScriptChecks: true}
			hc, spec, err := BuildCheck(tc.def, opts)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Type != tc.wantType || hc.Type != tc.wantType {
				t.Errorf("type %q/%q, want %q", spec.Type, hc.Type, tc.wantType)
			}
			if spec.Interval != tc.wantInterval || time.Duration(hc.Definition.IntervalNanos) != tc.wantInterval {
				t.Errorf("interval %v, want %v", spec.Interval, tc.wantInterval)
			}
			if spec.Timeout != tc.wantTimeout {
				t.Errorf("timeout %v, want %v", spec.Timeout, tc.wantTimeout)
			}
			if hc.Status != tc.wantStatus {
				t.Errorf("status %q, want %q", hc.Status, tc.wantStatus)
			}
			if spec.FailuresBeforeWarning != tc.wantWarning {
				t.Errorf("FailuresBeforeWarning %d, want %d", spec.FailuresBeforeWarning, tc.wantWarning)
			}
			if spec.DeregisterCriticalServiceAfter != tc.wantDereg {
				t.Errorf("DeregisterCriticalServiceAfter %v, want %v", spec.DeregisterCriticalServiceAfter, tc.wantDereg)
			}
			if hc.CheckId != tc.def.Name || hc.Node != "node1" || spec.OutputMaxSize != DefaultOutputMaxSize {
				t.Errorf("row %v, spec output max %d", hc, spec.OutputMaxSize)
			}
			if tc.svc != nil && (hc.ServiceId != "web-1" || hc.ServiceName != "web" || len(hc.ServiceTags) != 1) {
				t.Errorf("service fields %v", hc)
			}
		})
	}
	if _, _, err := BuildCheck(CheckDefinition{TTL: time.Minute}, BuildOptions{}); !errors.Is(err, ErrMissingCheckName) {
		t.Fatalf("no name: %v", err)
	}
	if _, _, err := BuildCheck(CheckDefinition{Name: "x", HTTP: "http://x"}, BuildOptions{}); !errors.Is(err, ErrInvalidCheck) {
		t.Fatalf("invalid: %v", err)
	}
}

func TestScriptChecksOnlyWhenEnabled(t *testing.T) {
	def := CheckDefinition{Name: "s", ScriptArgs: []string{"/bin/true"}, Interval: time.Second}
	cases := []struct {
		name          string
		src           Source
		enable, local bool
		allowed       bool
		msg           string
	}{
		{"remote, nothing enabled", SourceRemote, false, false, false,
			"Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true"},
		{"remote, local enabled", SourceRemote, false, true, false,
			"Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true"},
		{"local, nothing enabled", SourceLocal, false, false, false,
			"Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"},
		{"local, local enabled", SourceLocal, false, true, true, ""},
		{"remote, enabled", SourceRemote, true, false, true, ""},
		{"local, enabled", SourceLocal, true, false, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := BuildCheck(def, BuildOptions{Source: tc.src, EnableScriptChecks: tc.enable, EnableLocalScriptChecks: tc.local})
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrScriptChecksDisabled) || err.Error() != tc.msg {
				t.Fatalf("err = %v, want ErrScriptChecksDisabled %q", err, tc.msg)
			}
		})
	}
}

func TestDefinitionProtoRoundTrip(t *testing.T) {
	def := CheckDefinition{
		ID: "c1", Name: "C1", Notes: "n", ServiceID: "web", Status: StatusWarning,
		HTTP: "https://x/health", Header: map[string][]string{"X-A": {"1", "2"}}, Method: "POST", Body: "b",
		DisableRedirects: true, TLSServerName: "x", TLSSkipVerify: true,
		Interval: 3 * time.Second, Timeout: time.Second,
		SuccessBeforePassing: 2, FailuresBeforeWarning: 1, FailuresBeforeCritical: 3,
		DeregisterCriticalServiceAfter: time.Hour,
	}
	hc := &pb.HealthCheck{CheckId: def.ID, Name: def.Name, Notes: def.Notes, ServiceId: def.ServiceID, Status: def.Status, Definition: def.Proto()}
	back := DefinitionFromProto(hc)
	if !proto.Equal(back.Proto(), def.Proto()) || back.ID != def.ID || back.Status != def.Status || back.ServiceID != def.ServiceID {
		t.Fatalf("round trip\n got %+v\nwant %+v", back, def)
	}
}

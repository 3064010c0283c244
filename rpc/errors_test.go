package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/meridian-io/meridian/pb"
)

// sentinelCases lists every error that keeps its identity across the wire.
var sentinelCases = []struct {
	name string
	err  error
	code pb.ErrorCode
}{
	{"no leader", ErrNoLeader, pb.ErrorCode_ERROR_NO_LEADER},
	{"not found", ErrNotFound, pb.ErrorCode_ERROR_NOT_FOUND},
	{"permission denied", ErrPermissionDenied, pb.ErrorCode_ERROR_PERMISSION_DENIED},
	{"no path to dc", ErrNoPathToDC, pb.ErrorCode_ERROR_NO_PATH_TO_DC},
	{"bad request", ErrBadRequest, pb.ErrorCode_ERROR_BAD_REQUEST},
	{"unknown method", ErrUnknownMethod, pb.ErrorCode_ERROR_UNKNOWN_METHOD},
	{"too large", ErrTooLarge, pb.ErrorCode_ERROR_TOO_LARGE},
	{"shutdown", ErrShutdown, pb.ErrorCode_ERROR_SHUTDOWN},
	{"internal", ErrInternal, pb.ErrorCode_ERROR_INTERNAL},
	{"deadline", context.DeadlineExceeded, pb.ErrorCode_ERROR_DEADLINE_EXCEEDED},
	{"canceled", context.Canceled, pb.ErrorCode_ERROR_CANCELED},
}

func TestErrorWireRoundTrip(t *testing.T) {
	for _, tc := range sentinelCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{tc.err, fmt.Errorf("%w: txn has 129 ops, max 128", tc.err)} {
				w := ErrorToWire(err)
				if w.GetCode() != tc.code {
					t.Errorf("ErrorToWire(%q).Code = %v, want %v", err, w.GetCode(), tc.code)
				}
				got := ErrorFromWire(w)
				if got.Error() != err.Error() {
					t.Errorf("text = %q, want %q", got.Error(), err.Error())
				}
				if !errors.Is(got, tc.err) {
					t.Errorf("errors.Is(%q, %v) = false after the round trip", got, tc.err)
				}
				if errors.Is(got, ErrTransport) {
					t.Errorf("remote error %q claims to be a transport error", got)
				}
				// A forwarding server sends the error on as it got it.
				if again := ErrorToWire(fmt.Errorf("forward: %w", got)); again.GetCode() != tc.code {
					t.Errorf("forwarded code = %v, want %v", again.GetCode(), tc.code)
				}
			}
		})
	}
}

func TestErrorWireEdges(t *testing.T) {
	if ErrorToWire(nil) != nil || ErrorFromWire(nil) != nil {
		t.Fatal("nil must map to nil both ways")
	}
	w := ErrorToWire(errors.New("disk on fire"))
	if w.GetCode() != pb.ErrorCode_ERROR_INTERNAL || w.GetMessage() != "disk on fire" {
		t.Errorf("unclassified error = %v, want ERROR_INTERNAL with its text", w)
	}
	if err := ErrorFromWire(&pb.RPCError{}); !errors.Is(err, ErrInternal) {
		t.Errorf("unspecified code = %v, want ErrInternal", err)
	}
	// A code from a newer peer keeps its code and text when passed on.
	future := ErrorFromWire(&pb.RPCError{Code: 99, Message: "quota exceeded"})
	if future.Error() != "quota exceeded" {
		t.Errorf("future code text = %q", future.Error())
	}
	if got := ErrorToWire(future).GetCode(); got != 99 {
		t.Errorf("future code forwarded as %v, want 99", got)
	}
	if got := ErrorFromWire(&pb.RPCError{Code: pb.ErrorCode_ERROR_NO_LEADER}).Error(); got != "No cluster leader" {
		t.Errorf("empty message text = %q, want the sentinel's", got)
	}
	if got := ErrorToWire(fmt.Errorf("%w: %w", ErrTransport, errors.New("reset"))).GetCode(); got != pb.ErrorCode_ERROR_INTERNAL {
		t.Errorf("transport error sent as %v, want ERROR_INTERNAL", got)
	}
}

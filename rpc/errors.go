package rpc

import (
	"context"
	"errors"

	"github.com/meridian-io/meridian/pb"
)

// Sentinel errors. Handlers wrap them with %w and callers test them with
// errors.Is; every one but ErrTransport keeps its identity across the wire.
//
// The texts of ErrNoLeader, ErrPermissionDenied and ErrNoPathToDC are
// Consul's, because clients of the HTTP API match on them.
var (
	//lint:ignore ST1005 Consul's text, matched by clients.
	ErrNoLeader = errors.New("No cluster leader")
	// ErrNotFound says the named thing (key, session, node, ...) does not exist.
	ErrNotFound = errors.New("not found")
	//lint:ignore ST1005 Consul's text, matched by clients.
	ErrPermissionDenied = errors.New("Permission denied")
	//lint:ignore ST1005 Consul's text, matched by clients.
	ErrNoPathToDC = errors.New("No path to datacenter")
	// ErrBadRequest says the request is malformed or breaks a limit.
	ErrBadRequest = errors.New("bad request")
	// ErrUnknownMethod says the server has no handler for the method.
	ErrUnknownMethod = errors.New("unknown rpc method")
	// ErrTooLarge says an envelope passed the maximum message size.
	ErrTooLarge = errors.New("rpc message too large")
	// ErrShutdown says the server or pool is shutting down.
	ErrShutdown = errors.New("rpc shutdown")
	// ErrInternal says the remote side failed for a reason it did not name
	// (an unclassified error or a recovered panic).
	ErrInternal = errors.New("internal error")
	// ErrTransport marks a failure to reach the remote side or to exchange
	// the envelopes with it (dial, session, stream, framing). Only such
	// errors justify retrying the call on another server. It never crosses
	// the wire: a server that returns one to its own caller sends
	// ERROR_INTERNAL.
	ErrTransport = errors.New("rpc transport error")
	// ErrNotSent marks a transport error that happened before any byte of
	// the request left (the dial or the stream's opening failed): a write
	// that failed so may be sent to another server, since it cannot have
	// been applied. It comes wrapped with ErrTransport.
	ErrNotSent = errors.New("request not sent")
)

// wireCodes maps codes to the errors they stand for, in the order
// ErrorToWire tries them: the first that errors.Is matches wins.
var wireCodes = []struct {
	code pb.ErrorCode
	err  error
}{
	{pb.ErrorCode_ERROR_NO_LEADER, ErrNoLeader},
	{pb.ErrorCode_ERROR_NOT_FOUND, ErrNotFound},
	{pb.ErrorCode_ERROR_PERMISSION_DENIED, ErrPermissionDenied},
	{pb.ErrorCode_ERROR_NO_PATH_TO_DC, ErrNoPathToDC},
	{pb.ErrorCode_ERROR_BAD_REQUEST, ErrBadRequest},
	{pb.ErrorCode_ERROR_UNKNOWN_METHOD, ErrUnknownMethod},
	{pb.ErrorCode_ERROR_TOO_LARGE, ErrTooLarge},
	{pb.ErrorCode_ERROR_SHUTDOWN, ErrShutdown},
	{pb.ErrorCode_ERROR_INTERNAL, ErrInternal},
	{pb.ErrorCode_ERROR_DEADLINE_EXCEEDED, context.DeadlineExceeded},
	{pb.ErrorCode_ERROR_CANCELED, context.Canceled},
}

// RemoteError is an error that came back over the wire. Its Error() is the
// text the remote side's error had, and it unwraps to the sentinel of its
// code, so errors.Is(err, ErrNoLeader) (or context.DeadlineExceeded, ...)
// holds on the caller as it did on the server.
type RemoteError struct {
	Code    pb.ErrorCode
	Message string
}

// Error returns the remote error's text.
func (e *RemoteError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if s := sentinelFor(e.Code); s != nil {
		return s.Error()
	}
	return "remote error " + e.Code.String()
}

// Unwrap returns the sentinel of the error's code, or nil for a code this
// build does not know.
func (e *RemoteError) Unwrap() error { return sentinelFor(e.Code) }

func sentinelFor(code pb.ErrorCode) error {
	for _, c := range wireCodes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// ErrorToWire encodes err for the RPCResponse: its code is that of the
// first sentinel it wraps (ERROR_INTERNAL when none) and its message is
// err.Error(). A *RemoteError keeps its code, so a forwarded error arrives
// unchanged. ErrorToWire(nil) is nil.
func ErrorToWire(err error) *pb.RPCError {
	if err == nil {
		return nil
	}
	code := pb.ErrorCode_ERROR_INTERNAL
	var remote *RemoteError
	if errors.As(err, &remote) && remote.Code != pb.ErrorCode_ERROR_CODE_UNSPECIFIED {
		code = remote.Code
	} else {
		for _, c := range wireCodes {
			if errors.Is(err, c.err) {
				code = c.code
				break
			}
		}
	}
	return &pb.RPCError{Code: code, Message: err.Error()}
}

// ErrorFromWire decodes an RPCError into a *RemoteError with the same text
// that satisfies errors.Is for the sentinel of its code. ErrorFromWire(nil)
// is nil.
func ErrorFromWire(e *pb.RPCError) error {
	if e == nil {
		return nil
	}
	code := e.GetCode()
	if code == pb.ErrorCode_ERROR_CODE_UNSPECIFIED {
		code = pb.ErrorCode_ERROR_INTERNAL
	}
	return &RemoteError{Code: code, Message: e.GetMessage()}
}

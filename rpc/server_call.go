package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/meridian-io/meridian/pb"
	"google.golang.org/protobuf/proto"
)

// errCallerGone is the cancel cause of a handler whose caller closed its
// stream (gave up) or whose session died.
var errCallerGone = errors.New("rpc: caller hung up")

// serveStream runs one call: read the request, run the handler, write the
// response. The caller keeps its half of the stream open until it has the
// response, so EOF on it while the handler runs means the caller gave up.
func (s *Server) serveStream(stream *yamux.Stream, cs *tls.ConnectionState) {
	defer s.wg.Done()
	defer stream.Close()

	_ = stream.SetReadDeadline(time.Now().Add(s.cfg.RequestTimeout))
	var req pb.RPCRequest
	if err := readFrame(stream, &req, s.cfg.MaxMessageSize); err != nil {
		var tooLarge *frameTooLargeError
		if errors.As(err, &tooLarge) {
			s.logger.Warn("request too large", "remote", stream.RemoteAddr().String(), "size", tooLarge.size, "max", tooLarge.max)
			s.writeResponse(stream, "", &pb.RPCResponse{Error: ErrorToWire(err)})
			// Read the body away (still bounded by the read deadline) so a
			// caller blocked writing it gets to read the answer.
			_, _ = io.CopyN(io.Discard, stream, int64(tooLarge.size))
			return
		}
		if s.ctx.Err() == nil {
			s.logger.Debug("cannot read request", "remote", stream.RemoteAddr().String(), "error", err)
		}
		return
	}
	_ = stream.SetReadDeadline(time.Time{})
	if h := s.streamHandler(req.Method); h != nil {
		ctx, cancel := context.WithCancel(withPeerTLS(s.ctx, cs))
		defer cancel()
		s.serveStreamCall(ctx, stream, &req, h)
		return
	}
	if s.handler(req.Method) == nil {
		// Answered at once: the caller of a stream method this server
		// lacks has already closed its side, which would otherwise read
		// as a caller gone.
		s.writeResponse(stream, req.Method, &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w %q", ErrUnknownMethod, req.Method))})
		return
	}

	if !s.startCall() {
		// Shutting down: not run, so the caller may try elsewhere (a
		// forwarded write is retried on the leader's answer of this
		// kind).
		s.writeResponse(stream, req.Method, &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: this server is shutting down", ErrNoLeader))})
		return
	}
	defer s.endCall()
	ctx, cancel := context.WithCancelCause(withPeerTLS(s.ctx, cs))
	defer cancel(nil)
	var deadline time.Time
	if req.DeadlineUnixNano != 0 {
		deadline = time.Unix(0, req.DeadlineUnixNano)
	}
	stopWatch, watchDone := s.watchCaller(stream, deadline, cancel)
	out := s.callEnveloped(ctx, &req)
	stopWatch()
	// The answer goes out before the watch's goroutine is waited for:
	// its wake-up is not the caller's to wait for.
	defer watchDone()
	if errors.Is(context.Cause(ctx), errCallerGone) {
		return // nobody is left to read the answer
	}
	s.writeResponse(stream, req.Method, out)
}

// watchCaller cancels the call when the caller closes its side of the
// stream or the session dies. stop ends the watch (it cancels nothing
// after stop returns); done waits for its goroutine. A caller that hangs
// up once the deadline has passed timed out: the handler's context then
// ends with DeadlineExceeded, not with errCallerGone.
func (s *Server) watchCaller(stream *yamux.Stream, deadline time.Time, cancel context.CancelCauseFunc) (stop, done func()) {
	var mu sync.Mutex
	stopped := false
	exited := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(exited)
		var b [1]byte
		_, _ = stream.Read(b[:]) // EOF, reset, session shutdown, or our own deadline
		mu.Lock()
		defer mu.Unlock()
		if !stopped && (deadline.IsZero() || time.Now().Before(deadline)) {
			cancel(errCallerGone)
		}
	}()
	stop = func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		_ = stream.SetReadDeadline(time.Now())
	}
	return stop, func() { <-exited }
}

// call runs the handler of method, turning a panic into ErrInternal.
func (s *Server) call(ctx context.Context, method string, payload []byte) (resp proto.Message, err error) {
	h := s.handler(method)
	if h == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownMethod, method)
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(ctx, method); err != nil {
			return nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("rpc handler panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("%w: handler of %s panicked", ErrInternal, method)
		}
	}()
	return h(ctx, payload)
}

// writeResponse writes out, replacing a response past the size limit with
// ERROR_TOO_LARGE.
func (s *Server) writeResponse(stream *yamux.Stream, method string, out *pb.RPCResponse) {
	frame, err := marshalFrame(out, s.cfg.MaxMessageSize)
	if err != nil {
		s.logger.Warn("response not sent", "method", method, "error", err)
		frame, err = marshalFrame(&pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("response of %s: %w", method, err))}, s.cfg.MaxMessageSize)
		if err != nil {
			return
		}
	}
	_ = stream.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := stream.Write(frame); err != nil && s.ctx.Err() == nil {
		s.logger.Debug("cannot write response", "method", method, "remote", stream.RemoteAddr().String(), "error", err)
	}
}

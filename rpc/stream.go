package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// Stream methods carry more than one message each way: snapshots, whose
// archives may be far larger than a message. The call opens like any
// other (one RPCRequest frame); what follows is the method's: an upload
// the caller sends and ends by closing its side (CloseWrite), and the
// answer, one RPCResponse frame (Respond) followed by any bytes.

// StreamHandler serves one call of a stream method.
type StreamHandler func(ctx context.Context, call *StreamCall) error

// StreamCall is the server's side of a stream method's call. Read reads the
// caller's upload until the caller closes its side; Respond sends the
// answer's envelope, after which Write sends bytes. A handler that returns
// an error before it responded answers with that error; after, the caller
// sees the stream end early.
type StreamCall struct {
	// Payload is the request's payload.
	Payload []byte

	stream    *yamux.Stream
	maxSize   int
	writeTime time.Duration
	responded bool
}

// Read reads the caller's upload.
func (c *StreamCall) Read(p []byte) (int, error) { return c.stream.Read(p) }

// Respond sends the answer's envelope with resp as its payload (resp may
// be nil). It may be called once.
func (c *StreamCall) Respond(resp proto.Message) error {
	out := &pb.RPCResponse{}
	if resp != nil {
		b, err := proto.Marshal(resp)
		if err != nil {
			return fmt.Errorf("rpc: marshal stream response: %w", err)
		}
		out.Payload = b
	}
	return c.respond(out)
}

func (c *StreamCall) respond(out *pb.RPCResponse) error {
	if c.responded {
		return errors.New("rpc: stream call answered twice")
	}
	c.responded = true
	frame, err := marshalFrame(out, c.maxSize)
	if err != nil {
		return err
	}
	_, err = c.Write(frame)
	return err
}

// Write sends bytes after the response; each write must make progress
// within the server's write timeout.
func (c *StreamCall) Write(p []byte) (int, error) {
	_ = c.stream.SetWriteDeadline(time.Now().Add(c.writeTime))
	return c.stream.Write(p)
}

// Relay hands the call on to up, a stream opened with the same method and
// payload: the caller's upload goes up as it comes, and up's answer
// (envelope and bytes) comes back as it is. It returns when up's answer
// has ended.
func (c *StreamCall) Relay(up *ClientStream) error {
	c.responded = true // up's envelope is the answer
	upload := make(chan error, 1)
	go func() {
		_, err := io.Copy(up.stream, c.stream)
		if err == nil {
			err = up.CloseWrite()
		}
		upload <- err
	}()
	_, err := io.Copy(c, up.stream)
	// An upload still running has lost its reader: end it.
	up.abort()
	_ = c.stream.SetReadDeadline(time.Now())
	<-upload
	return err
}

// RegisterStream installs h as the handler of the stream method method.
func (s *Server) RegisterStream(method string, h StreamHandler) {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	if s.streams == nil {
		s.streams = map[string]StreamHandler{}
	}
	s.streams[method] = h
}

func (s *Server) streamHandler(method string) StreamHandler {
	s.handlersMu.RLock()
	defer s.handlersMu.RUnlock()
	return s.streams[method]
}

// serveStreamCall runs a stream method's call whose request was read.
func (s *Server) serveStreamCall(ctx context.Context, stream *yamux.Stream, req *pb.RPCRequest, h StreamHandler) {
	call := &StreamCall{Payload: req.Payload, stream: stream, maxSize: s.cfg.MaxMessageSize, writeTime: s.cfg.WriteTimeout}
	err := func() (err error) {
		if s.cfg.Authorize != nil {
			if err := s.cfg.Authorize(ctx, req.Method); err != nil {
				return err
			}
		}
		defer func() {
			if r := recover(); r != nil {
				s.logger.Error("rpc stream handler panicked", "method", req.Method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("%w: handler of %s panicked", ErrInternal, req.Method)
			}
		}()
		if req.RelayHops > 0 {
			ctx = WithRelayHops(ctx, req.RelayHops)
		}
		return h(ctx, call)
	}()
	switch {
	case err == nil:
	case !call.responded:
		if werr := call.respond(&pb.RPCResponse{Error: ErrorToWire(err)}); werr != nil {
			s.logger.Debug("stream answer not sent", "method", req.Method, "error", werr)
		}
	case s.ctx.Err() == nil:
		s.logger.Warn("stream call cut after its answer began", "method", req.Method, "error", err)
	}
}

// ClientStream is the caller's side of a stream method's call: Write
// uploads and CloseWrite ends the upload (a call with nothing to upload
// closes it at once: a relaying server waits for it); Response reads the answer's
// envelope, after which Read reads the bytes that follow. Close must be
// called.
type ClientStream struct {
	method, addr string
	stream       *yamux.Stream
	maxSize      int
	release      func()
	stop         func() bool
	once         sync.Once
}

// OpenStream opens a call of the stream method method on addr and sends
// req. The stream lives until Close or until ctx ends.
func (p *Pool) OpenStream(ctx context.Context, addr, method string, req proto.Message) (*ClientStream, error) {
	env, err := envelope(ctx, method, req)
	if err != nil {
		return nil, err
	}
	env.DeadlineUnixNano = 0 // a transfer is bounded by its progress, not by a deadline
	frame, err := marshalFrame(env, p.cfg.MaxMessageSize)
	if err != nil {
		return nil, fmt.Errorf("rpc %s to %s: request %w", method, addr, err)
	}
	for attempt := 0; ; attempt++ {
		e, err := p.acquire(ctx, addr)
		if err != nil {
			return nil, p.callError(ctx, method, addr, notSent(err))
		}
		stream, err := e.sess.OpenStream()
		if err != nil {
			p.release(e, true)
			if attempt == 0 {
				continue // nothing was sent: safe to dial afresh once
			}
			return nil, p.callError(ctx, method, addr, notSent(err))
		}
		cs := &ClientStream{method: method, addr: addr, stream: stream, maxSize: p.cfg.MaxMessageSize,
			release: func() { p.release(e, e.sess.IsClosed()) }}
		cs.stop = context.AfterFunc(ctx, cs.abort)
		if _, err := stream.Write(frame); err != nil {
			cs.Close()
			return nil, p.callError(ctx, method, addr, err)
		}
		return cs, nil
	}
}

// Write uploads bytes.
func (c *ClientStream) Write(p []byte) (int, error) { return c.stream.Write(p) }

// CloseWrite ends the upload; the answer can still be read.
func (c *ClientStream) CloseWrite() error { return c.stream.Close() }

// Response reads the answer's envelope into resp (which may be nil): the
// server's error, if it answered one.
func (c *ClientStream) Response(resp proto.Message) error {
	var out pb.RPCResponse
	if err := readFrame(c.stream, &out, c.maxSize); err != nil {
		return fmt.Errorf("rpc %s to %s: %w: %w", c.method, c.addr, ErrTransport, err)
	}
	return finishCall(context.Background(), c.method, c.addr, &out, resp)
}

// Read reads the bytes after the answer's envelope.
func (c *ClientStream) Read(p []byte) (int, error) { return c.stream.Read(p) }

// abort fails the stream's reads and writes at once and tells the server.
func (c *ClientStream) abort() {
	_ = c.stream.SetDeadline(time.Now())
	_ = c.stream.Close()
}

// Close ends the call.
func (c *ClientStream) Close() error {
	c.once.Do(func() {
		c.stop()
		c.abort()
		c.release()
	})
	return nil
}

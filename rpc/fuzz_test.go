package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hashicorp/yamux"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// Fuzz targets of the wire protocol. Run one with
//
//	go test -run '^$' -fuzz '^FuzzReadFrame$' -fuzztime 2m -parallel 1 ./rpc
//
// The seeds are also committed under testdata/fuzz/<Target>/ so a plain
// `go test ./rpc` replays them; -write-fuzz-seeds rewrites those files.

var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite testdata/fuzz/<Target>/seed-* from the seeds in fuzz_test.go")

// fuzzMaxMessage is the envelope limit of the fuzz targets: small, so the
// size guard is crossed often and an allocation past it stands out.
const fuzzMaxMessage = 4 << 10

type fuzzSeed struct {
	name string
	data []byte
}

// addFuzzSeeds hands the seeds to the fuzzer and, with -write-fuzz-seeds,
// writes each as testdata/fuzz/<target>/seed-<name> in the corpus format
// of `go test` (version 1).
func addFuzzSeeds(f *testing.F, target string, seeds []fuzzSeed) {
	f.Helper()
	for _, s := range seeds {
		f.Add(s.data)
	}
	if !*writeFuzzSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

// frameSeeds are envelopes of both kinds, valid and not.
func frameSeeds(f *testing.F) []fuzzSeed {
	frame := func(m proto.Message) []byte {
		b, err := marshalFrame(m, DefaultMaxMessageSize)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	payload, err := proto.Marshal(&pb.StatusRequest{Dc: "dc1"})
	if err != nil {
		f.Fatal(err)
	}
	echo := frame(&pb.RPCRequest{Method: "Status.Echo", Payload: payload})
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	return []fuzzSeed{
		{"echo", echo},
		{"echo-deadline-past", frame(&pb.RPCRequest{Method: "Status.Echo", Payload: payload, DeadlineUnixNano: 1})},
		{"echo-deadline-far", frame(&pb.RPCRequest{Method: "Status.Echo", Payload: payload, DeadlineUnixNano: 1 << 62})},
		{"echo-bad-payload", frame(&pb.RPCRequest{Method: "Status.Echo", Payload: []byte{0xff, 0xff}})},
		{"echo-trailing", append(append([]byte(nil), echo...), "more"...)},
		{"unknown-method", frame(&pb.RPCRequest{Method: "No.Such"})},
		{"panics", frame(&pb.RPCRequest{Method: "Fuzz.Panic"})},
		{"fails", frame(&pb.RPCRequest{Method: "Fuzz.Fail", Payload: []byte("why")})},
		{"response-ok", frame(&pb.RPCResponse{Payload: payload})},
		{"response-error", frame(&pb.RPCResponse{Error: &pb.RPCError{Code: pb.ErrorCode_ERROR_NO_LEADER, Message: "No cluster leader"}})},
		{"response-unknown-code", frame(&pb.RPCResponse{Error: &pb.RPCError{Code: 99}})},
		{"empty-frame", header(0)},
		{"short-header", []byte{0, 0}},
		{"short-body", append(header(10), 1, 2, 3)},
		{"at-limit", header(fuzzMaxMessage)},
		{"over-limit", header(fuzzMaxMessage + 1)},
		{"max-length", header(0xffffffff)},
		{"bad-proto", append(header(3), 0x0a, 0x05, 'x')},
		{"nothing", nil},
	}
}

// FuzzReadFrame feeds arbitrary bytes to the envelope reader, as a request
// (server side) and as a response (caller side). It must not panic, must
// refuse a length past the limit after reading only the header and
// without allocating the body, must allocate no more than the limit in
// any case, must report short input as an error, must not care how the
// reader splits the bytes, and what it accepts must re-encode and decode
// to the same message. A decoded response's error must map back to a
// typed error.
func FuzzReadFrame(f *testing.F) {
	addFuzzSeeds(f, "FuzzReadFrame", frameSeeds(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFrame(t, data, &pb.RPCRequest{})
		resp := &pb.RPCResponse{}
		if checkFrame(t, data, resp) {
			if e := resp.GetError(); e != nil {
				err := ErrorFromWire(e)
				if err == nil || err.Error() == "" {
					t.Fatalf("error %v decodes to %v", e, err)
				}
				if s := sentinelFor(e.GetCode()); s != nil && !errors.Is(err, s) {
					t.Fatalf("error of code %v does not match %v", e.GetCode(), s)
				}
				if back := ErrorToWire(err); back.GetMessage() != err.Error() {
					t.Fatalf("error %q re-encodes as %v", err, back)
				}
			}
		}
	})
}

// checkFrame reads data into the empty message m with every property of
// FuzzReadFrame checked. It reports whether the frame was accepted.
func checkFrame(t *testing.T, data []byte, m proto.Message) bool {
	t.Helper()
	empty := func() proto.Message { return m.ProtoReflect().Type().New().Interface() }
	r := bytes.NewReader(data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := readFrame(r, m, fuzzMaxMessage)
	runtime.ReadMemStats(&after)
	consumed := len(data) - r.Len()

	// The body buffer is at most the limit; decoding copies at most the
	// body again. The slack covers the decoder's own bookkeeping.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*fuzzMaxMessage+64<<10 {
		t.Fatalf("readFrame of %d bytes allocated %d bytes (limit %d)", len(data), alloc, fuzzMaxMessage)
	}

	// The same bytes one at a time give the same answer.
	bytewise := empty()
	if err2 := readFrame(iotest.OneByteReader(bytes.NewReader(data)), bytewise, fuzzMaxMessage); (err == nil) != (err2 == nil) {
		t.Fatalf("one-byte reads: %v, whole reads: %v", err2, err)
	} else if err == nil && !proto.Equal(m, bytewise) {
		t.Fatal("one-byte reads decoded a different message")
	}

	if len(data) < frameHeaderSize {
		if err == nil {
			t.Fatalf("accepted a %d-byte input", len(data))
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("short header: %v", err)
		}
		return false
	}
	n := uint64(binary.BigEndian.Uint32(data))
	switch {
	case n > fuzzMaxMessage:
		var tooLarge *frameTooLargeError
		if !errors.As(err, &tooLarge) || !errors.Is(err, ErrTooLarge) || tooLarge.size != n {
			t.Fatalf("length %d past the limit: %v", n, err)
		}
		if consumed != frameHeaderSize {
			t.Fatalf("read %d bytes of an oversized frame, want the header only", consumed)
		}
		return false
	case uint64(len(data)-frameHeaderSize) < n:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d-byte body of %d declared: %v", len(data)-frameHeaderSize, n, err)
		}
		return false
	}
	if consumed != frameHeaderSize+int(n) {
		t.Fatalf("consumed %d bytes of a %d-byte frame", consumed, frameHeaderSize+n)
	}
	body := data[frameHeaderSize : frameHeaderSize+n]
	if uerr := proto.Unmarshal(body, empty()); (uerr == nil) != (err == nil) {
		t.Fatalf("readFrame: %v, the body alone: %v", err, uerr)
	}
	if err != nil {
		return false
	}
	// What was accepted re-encodes within the limit and reads back equal.
	again, merr := marshalFrame(m, fuzzMaxMessage)
	if merr != nil {
		t.Fatalf("re-encode an accepted %d-byte frame: %v", n, merr)
	}
	back := empty()
	if err := readFrame(bytes.NewReader(again), back, fuzzMaxMessage); err != nil || !proto.Equal(m, back) {
		t.Fatalf("round trip: %v (equal %v)", err, proto.Equal(m, back))
	}
	return true
}

// FuzzServeStream writes arbitrary bytes on a stream to a real Server (over
// net.Pipe and yamux) and checks what comes back: nothing at all for
// input that is not one whole request, an answer of the right kind for a
// whole one (echo, unknown method, bad request, internal error for a
// handler panic, too large for a length past the limit), and never a hang
// or a panic. The server keeps serving later streams.
func FuzzServeStream(f *testing.F) {
	srv := NewServer(ServerConfig{MaxMessageSize: fuzzMaxMessage, RequestTimeout: 10 * time.Second})
	registerEcho(srv)
	srv.Register("Fuzz.Panic", func(context.Context, []byte) (proto.Message, error) { panic("fuzz") })
	srv.Register("Fuzz.Fail", func(_ context.Context, p []byte) (proto.Message, error) {
		return nil, fmt.Errorf("%w: %q", ErrBadRequest, p)
	})
	serverConn, clientConn := net.Pipe()
	srv.ServeConn(serverConn)
	ycfg := DefaultYamuxConfig()
	ycfg.LogOutput = io.Discard
	client, err := yamux.Client(clientConn, ycfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		client.Close()
		srv.Shutdown()
	})
	addFuzzSeeds(f, "FuzzServeStream", frameSeeds(f))

	f.Fuzz(func(t *testing.T, data []byte) {
		// Stay well inside the stream window: a server that stops reading
		// must not block the write.
		if len(data) > 64<<10 {
			data = data[:64<<10]
		}
		stream, err := client.OpenStream()
		if err != nil {
			t.Fatalf("open stream: %v", err)
		}
		defer stream.Close()
		if err := stream.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Write(data); err != nil {
			t.Fatalf("write: %v", err)
		}

		want, maybe := expectedAnswer(data)
		if want == nil {
			// Not one whole request: hang up our side; the server must
			// close without answering.
			stream.Close()
		}
		var got pb.RPCResponse
		err = readFrame(stream, &got, fuzzMaxMessage)
		switch {
		case err != nil && !errors.Is(err, io.EOF):
			t.Fatalf("reading the answer: %v", err)
		case err != nil && want != nil && !maybe:
			t.Fatalf("no answer, want %v", want)
		case err == nil && want == nil:
			t.Fatalf("answer %v to input that is not one request", &got)
		case err == nil && !proto.Equal(&got, want):
			t.Fatalf("answer %v, want %v", &got, want)
		}
	})
}

// expectedAnswer is the response a whole request in data must get; nil when
// data is not one. maybe is set when the server may also stay silent:
// bytes after the request look like the caller hanging up, if the server
// notices them before the handler is done.
func expectedAnswer(data []byte) (want *pb.RPCResponse, maybe bool) {
	method, want, maybe := expectedResponse(data)
	if want == nil {
		return nil, false
	}
	// An answer past the limit is replaced by a too-large error.
	if _, err := marshalFrame(want, fuzzMaxMessage); err != nil {
		want = &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("response of %s: %w", method, err))}
	}
	return want, maybe
}

func expectedResponse(data []byte) (method string, want *pb.RPCResponse, maybe bool) {
	if len(data) < frameHeaderSize {
		return "", nil, false
	}
	n := uint64(binary.BigEndian.Uint32(data))
	if n > fuzzMaxMessage {
		return "", &pb.RPCResponse{Error: ErrorToWire(&frameTooLargeError{size: n, max: fuzzMaxMessage})}, false
	}
	if uint64(len(data)-frameHeaderSize) < n {
		return "", nil, false
	}
	var req pb.RPCRequest
	if proto.Unmarshal(data[frameHeaderSize:frameHeaderSize+n], &req) != nil {
		return "", nil, false
	}
	maybe = uint64(len(data)) > frameHeaderSize+n
	switch req.Method {
	case "Status.Echo":
		var in pb.StatusRequest
		if err := proto.Unmarshal(req.Payload, &in); err != nil {
			return req.Method, &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: decode Status.Echo request: %v", ErrBadRequest, err))}, maybe
		}
		payload, err := proto.Marshal(&pb.StatusLeaderResponse{Address: in.GetDc()})
		if err != nil {
			panic(err)
		}
		return req.Method, &pb.RPCResponse{Payload: payload}, maybe
	case "Fuzz.Panic":
		return req.Method, &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: handler of Fuzz.Panic panicked", ErrInternal))}, maybe
	case "Fuzz.Fail":
		return req.Method, &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w: %q", ErrBadRequest, req.Payload))}, maybe
	}
	return req.Method, &pb.RPCResponse{Error: ErrorToWire(fmt.Errorf("%w %q", ErrUnknownMethod, req.Method))}, maybe
}

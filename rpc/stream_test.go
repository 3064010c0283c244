package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/meridian-io/meridian/pb"
)

// registerReverse serves Stream.Echo: it reads the whole upload, answers
// its length, then sends it back; an upload of "fail" is refused before
// the answer.
func registerReverse(s *Server) {
	s.RegisterStream("Stream.Echo", func(ctx context.Context, call *StreamCall) error {
		body, err := io.ReadAll(call)
		if err != nil {
			return err
		}
		if string(body) == "fail" {
			return errors.Join(ErrNotFound, errors.New("refused"))
		}
		if err := call.Respond(&pb.StatusLeaderResponse{Address: strconv.Itoa(len(body))}); err != nil {
			return err
		}
		_, err = call.Write(body)
		return err
	})
}

// streamEcho uploads body through p to addr and returns the answer's
// length field and the bytes that followed it.
func streamEcho(ctx context.Context, p *Pool, addr string, body []byte) (string, []byte, error) {
	cs, err := p.OpenStream(ctx, addr, "Stream.Echo", &pb.StatusRequest{Dc: "x"})
	if err != nil {
		return "", nil, err
	}
	defer cs.Close()
	if _, err := cs.Write(body); err != nil {
		return "", nil, err
	}
	if err := cs.CloseWrite(); err != nil {
		return "", nil, err
	}
	var resp pb.StatusLeaderResponse
	if err := cs.Response(&resp); err != nil {
		return "", nil, err
	}
	back, err := io.ReadAll(cs)
	return resp.Address, back, err
}

// TestStreamMethodCarriesMoreThanAMessage: an upload and an answer larger
// than the message size limit cross a stream call, directly and through a
// relaying server; an error before the answer reaches the caller as an
// error, and ordinary calls share the session meanwhile.
func TestStreamMethodCarriesMoreThanAMessage(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.MaxMessageSize = 64 << 10
	origin := startNode(t, "127.0.0.1:0", cfg, func(s *Server) { registerReverse(s); registerEcho(s) })
	relayPool, _ := newTestPool(t, PoolConfig{MaxMessageSize: 64 << 10})
	relay := startNode(t, "127.0.0.1:0", cfg, func(s *Server) {
		s.RegisterStream("Stream.Echo", func(ctx context.Context, call *StreamCall) error {
			up, err := relayPool.OpenStream(ctx, origin.addr, "Stream.Echo", &pb.StatusRequest{})
			if err != nil {
				return err
			}
			defer up.Close()
			return call.Relay(up)
		})
	})
	p, _ := newTestPool(t, PoolConfig{MaxMessageSize: 64 << 10})
	body := make([]byte, 1<<20) // 16 times the message limit
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{origin.addr, relay.addr} {
		n, back, err := streamEcho(testCtx(t), p, addr, body)
		if err != nil {
			t.Fatalf("via %s: %v", addr, err)
		}
		if n != strconv.Itoa(len(body)) || !bytes.Equal(back, body) {
			t.Fatalf("via %s: answer %q and %d bytes back, want %d and the upload", addr, n, len(back), len(body))
		}
		if _, _, err := streamEcho(testCtx(t), p, addr, []byte("fail")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("via %s: refused upload gave %v, want ErrNotFound", addr, err)
		}
	}
	if got, err := callEcho(testCtx(t), p, origin.addr, "still"); err != nil || got != "still" {
		t.Fatalf("ordinary call after streams: %q, %v", got, err)
	}
	if n, back, err := streamEcho(testCtx(t), p, origin.addr, nil); err != nil || n != "0" || len(back) != 0 {
		t.Fatalf("empty upload: %q, %d bytes back, %v", n, len(back), err)
	}
	// A stream method the server does not have is an unknown method.
	cs, err := p.OpenStream(testCtx(t), origin.addr, "Stream.Nothing", &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	_ = cs.CloseWrite()
	if err := cs.Response(nil); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown stream method: %v, want ErrUnknownMethod", err)
	}
}

// TestStreamCallerGoneEndsHandler: a caller whose context ends mid-upload
// leaves the server's handler with a failed read, not a hung one.
func TestStreamCallerGoneEndsHandler(t *testing.T) {
	readErr := make(chan error, 1)
	n := startNode(t, "127.0.0.1:0", DefaultServerConfig(), func(s *Server) {
		s.RegisterStream("Stream.Hold", func(ctx context.Context, call *StreamCall) error {
			_, err := io.Copy(io.Discard, call)
			readErr <- err
			return err
		})
	})
	p, _ := newTestPool(t, PoolConfig{})
	ctx, cancel := context.WithCancel(testCtx(t))
	cs, err := p.OpenStream(ctx, n.addr, "Stream.Hold", &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The aborted caller closed its side: the handler's read ends (the
	// upload is simply short; the method's own format tells it is cut).
	select {
	case <-readErr:
	case <-testCtx(t).Done():
		t.Fatal("handler still reading after its caller went")
	}
	if _, err := cs.Write([]byte("more")); err == nil {
		t.Fatal("write on an aborted stream succeeded")
	}
}

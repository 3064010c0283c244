package rpc

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestMuxRoutesByFirstByte(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux(ln, nil, WithFirstByteTimeout(200*time.Millisecond))
	rpcConns := make(chan net.Conn, 1)
	mux.HandleRPC(func(c net.Conn) { rpcConns <- c })
	serveDone := make(chan error, 1)
	go func() { serveDone <- mux.Serve() }()

	raftConns := make(chan net.Conn, 1)
	go func() {
		c, err := mux.RaftLayer().Accept()
		if err == nil {
			raftConns <- c
		}
	}()

	addr := ln.Addr().String()
	for _, tc := range []struct {
		name  string
		proto byte
		got   chan net.Conn
	}{
		{"raft", ProtoRaft, raftConns},
		{"rpc", ProtoRPC, rpcConns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialAndWrite(t, addr, []byte{tc.proto, 'h', 'i'})
			defer c.Close()
			select {
			case sc := <-tc.got:
				defer sc.Close()
				buf := make([]byte, 2)
				_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "hi" {
					t.Fatalf("routed conn read %q, %v; want \"hi\" (protocol byte consumed)", buf, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("connection was not routed")
			}
		})
	}

	t.Run("garbage byte closes", func(t *testing.T) {
		c := dialAndWrite(t, addr, []byte{0x7f, 'x'})
		defer c.Close()
		expectClosedByServer(t, c)
	})
	t.Run("silent conn closes after first byte timeout", func(t *testing.T) {
		c := dialAndWrite(t, addr, nil)
		defer c.Close()
		expectClosedByServer(t, c)
	})
	select {
	case c := <-rpcConns:
		t.Fatalf("unexpected rpc conn from %v", c.RemoteAddr())
	case c := <-raftConns:
		t.Fatalf("unexpected raft conn from %v", c.RemoteAddr())
	default:
	}

	if err := mux.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	mux.RaftLayer().Close()
	if err := <-serveDone; err != nil {
		t.Fatalf("Serve after Close = %v, want nil", err)
	}
	if _, err := mux.RaftLayer().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

// A connection still waiting for its first byte must not hold up Close.
func TestMuxCloseClosesPendingConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux(ln, nil, WithFirstByteTimeout(time.Hour))
	serveDone := make(chan error, 1)
	go func() { serveDone <- mux.Serve() }()
	c := dialAndWrite(t, ln.Addr().String(), nil)
	defer c.Close()
	waitFor(t, "the conn to be pending", 5*time.Second, func() bool {
		mux.mu.Lock()
		defer mux.mu.Unlock()
		return len(mux.pending) == 1
	})
	start := time.Now()
	if err := mux.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a silent conn pending", d)
	}
	expectClosedByServer(t, c)
	if err := <-serveDone; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

func dialAndWrite(t *testing.T, addr string, b []byte) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// expectClosedByServer reads until the server closes c (EOF or reset).
func expectClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read = %d, %v; want the server to close the conn", n, err)
	}
}

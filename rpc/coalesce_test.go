package rpc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestCoalescingConnDeliversEverythingInOrder(t *testing.T) {
	a, b := tcpPair(t)
	cc := newCoalescingConn(a)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	for i := range 20000 {
		chunk := bytes.Repeat([]byte{byte(i)}, 1+i%700)
		want.Write(chunk)
		if _, err := cc.Write(chunk); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// Close drops what a write in progress leaves pending, as yamux's
	// own Close drops the frames its send loop has not taken: wait for
	// the flusher first.
	waitFor(t, "every byte to leave", 10*time.Second, func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.flushed == uint64(want.Len())
	})
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case all := <-got:
		if !bytes.Equal(all, want.Bytes()) {
			t.Fatalf("peer read %d bytes, want %d (or they differ)", len(all), want.Len())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("peer did not see the close")
	}
	if cc.queuedBytes() != uint64(want.Len()) {
		t.Fatalf("queued %d, want %d", cc.queuedBytes(), want.Len())
	}
	cc.mu.Lock()
	flushed := cc.flushed
	cc.mu.Unlock()
	if flushed != uint64(want.Len()) {
		t.Fatalf("flushed %d of %d", flushed, want.Len())
	}
}

func TestCoalescingConnWriteErrorIsSticky(t *testing.T) {
	a, b := tcpPair(t)
	cc := newCoalescingConn(a)
	defer cc.Close()
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // the peer resets: writes start failing
	chunk := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = cc.Write(chunk)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
	if _, again := cc.Write([]byte("x")); !errors.Is(again, err) {
		t.Fatalf("next write: %v, want the same error %v", again, err)
	}
	// The flusher closed the connection, so a reader of it ends too.
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, rerr := a.Read(make([]byte, 1)); !errors.Is(rerr, net.ErrClosed) {
		t.Fatalf("read after a write error: %v, want the connection closed", rerr)
	}
}

func TestCoalescingConnTellsUnsentFromSent(t *testing.T) {
	a, b := tcpPair(t)
	cc := newCoalescingConn(a)
	go io.Copy(io.Discard, b)
	if _, err := cc.Write([]byte("sent")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first write to leave", 5*time.Second, func() bool {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.flushed == 4
	})
	mark := cc.queuedBytes()
	if cc.unsentSince(mark, 10*time.Millisecond) {
		t.Fatal("an open connection claims its bytes can no longer leave")
	}
	cc.Close()
	if !cc.unsentSince(mark, time.Second) {
		t.Fatal("nothing was queued after the mark, yet it is not reported unsent")
	}
	if cc.unsentSince(0, time.Second) {
		t.Fatal("bytes that left are reported unsent")
	}
}

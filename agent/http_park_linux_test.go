package agent

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair is a connected pair of TCP sockets on the loopback interface.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func newTestWatch(t *testing.T) *epollWatch {
	t.Helper()
	e, err := newEpollWatch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

// parkAndAnswer registers server as a parked read and ends that read, as
// parker.serve does before it writes the answer.
func parkAndAnswer(t *testing.T, e *epollWatch, server net.Conn) *epollHangup {
	t.Helper()
	h := e.add(server, func() {})
	if h == nil {
		t.Fatal("socket not added to the watch")
	}
	if gone, _ := h.stop(); gone {
		t.Fatal("client gone before it left")
	}
	return h
}

// An idle connection wakes on its client's next byte (readable) or its
// client's leaving (not readable), and is closed after its idle timeout.
func TestEpollIdle(t *testing.T) {
	e := newTestWatch(t)
	woke := make(chan bool, 1)
	wake := func(readable bool) { woke <- readable }
	waitWake := func() bool {
		select {
		case r := <-woke:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("idle connection never woke")
			return false
		}
	}

	server, client := tcpPair(t)
	h := parkAndAnswer(t, e, server)
	if !h.idle(server, time.Hour, wake) {
		t.Fatal("an answered connection was not taken as idle")
	}
	if _, err := client.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	if !waitWake() {
		t.Fatal("the next request's byte woke it as not readable")
	}
	// The request read (as net/http does), parked again (re-armed),
	// answered, idle again: the client leaves.
	buf := make([]byte, 1)
	if _, err := io.ReadFull(server, buf); err != nil || buf[0] != 'G' {
		t.Fatalf("the byte that woke it: %q, %v", buf, err)
	}
	h = parkAndAnswer(t, e, server)
	if !h.idle(server, time.Hour, wake) {
		t.Fatal("a re-parked connection was not taken as idle")
	}
	client.Close()
	if waitWake() {
		t.Fatal("the client's leaving woke it as readable")
	}

	// The idle timeout closes it.
	server, client = tcpPair(t)
	h = parkAndAnswer(t, e, server)
	if !h.idle(server, 50*time.Millisecond, wake) {
		t.Fatal("not taken as idle")
	}
	client.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("client of a timed-out idle connection read %v, want EOF", err)
	}
	select {
	case r := <-woke:
		t.Fatalf("a timed-out connection woke (%v)", r)
	default:
	}
}

// A byte that arrives between the read's answer and the connection's
// idling (its registration fires with nobody holding it) makes idle
// refuse: the connection is handed back at once, or its request would
// wait for the idle timeout.
func TestEpollIdleAfterStrayEvent(t *testing.T) {
	e := newTestWatch(t)
	server, client := tcpPair(t)
	h := parkAndAnswer(t, e, server)
	if _, err := client.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.mu.Lock()
		seq, ok := e.stray[h.fd]
		e.mu.Unlock()
		if ok && seq == h.seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event never reached the watch")
		}
		time.Sleep(time.Millisecond)
	}
	if h.idle(server, time.Hour, func(bool) { t.Error("woken") }) {
		t.Fatal("idle took a connection whose registration had fired")
	}
}

// closeIdle closes every idle connection.
func TestEpollCloseIdle(t *testing.T) {
	e := newTestWatch(t)
	server, client := tcpPair(t)
	h := parkAndAnswer(t, e, server)
	if !h.idle(server, time.Hour, func(bool) { t.Error("woken") }) {
		t.Fatal("not taken as idle")
	}
	e.closeIdle()
	client.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("client read %v after closeIdle, want EOF", err)
	}
}

package faultnet

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server is a TCP server on 127.0.0.1 that runs handle for each
// connection and counts the bytes handle read (through a counting conn).
type server struct {
	ln       net.Listener
	received atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

// countingConn counts the bytes read into the server's received.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// startServer listens on a free port and serves handle until the test ends.
func startServer(t *testing.T, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(countingConn{Conn: c, n: &s.received})
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// echo writes back everything it reads.
func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// greetThenEcho sends "hello" first, then echoes.
func greetThenEcho(c net.Conn) {
	if _, err := c.Write([]byte("hello")); err != nil {
		return
	}
	echo(c)
}

// waitUntil polls cond every few milliseconds until it holds or timeout
// passes, then fails the test with msg.
func waitUntil(t *testing.T, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	eventually(t, timeout, cond, func() string { return msg })
}

// eventually is waitUntil with a message built when it fails.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, describe())
		}
		<-tick.C
	}
}

// result is the outcome of an I/O call run in a goroutine.
type result struct {
	n   int
	err error
	b   []byte
}

// async runs f, an I/O call on c, in a goroutine and returns the channel
// of its result. When the test ends c is closed (which ends a stalled
// call) and the goroutine waited for.
func async(t *testing.T, c io.Closer, f func() result) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ch <- f()
	}()
	t.Cleanup(func() {
		_ = c.Close()
		wg.Wait()
	})
	return ch
}

// pending reports whether ch (from async) has no result yet.
func pending(ch <-chan result) bool { return len(ch) == 0 }

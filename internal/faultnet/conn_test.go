package faultnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

const testTimeout = 10 * time.Second

// dialPair serves handle as node "b" and returns a connection dialed to it
// from node "a", closed when the test ends.
func dialPair(t *testing.T, cfg Config, handle func(net.Conn)) (*Network, *server, net.Conn) {
	t.Helper()
	srv := startServer(t, handle)
	nw := NewWithConfig(cfg)
	nw.AddNode("a", "127.0.0.1:1") // a dialer owns its server port, unused here
	nw.AddNode("b", srv.addr())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := nw.Node("a").Dial(ctx, srv.addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return nw, srv, c
}

// exchange writes msg and reads back len(msg) bytes within testTimeout.
func exchange(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

// pattern returns n bytes that differ from position to position, so that
// a lost or reordered byte shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestConnExchangesData(t *testing.T) {
	_, _, c := dialPair(t, DefaultConfig(), echo)
	msg := pattern(100_000, 1)
	if got := exchange(t, c, msg); !bytes.Equal(got, msg) {
		t.Fatal("echoed bytes differ from the bytes sent")
	}
}

func TestWriteWaitsForHealAndStreamStaysIntact(t *testing.T) {
	nw, srv, c := dialPair(t, DefaultConfig(), echo)
	first := pattern(1000, 1)
	if got := exchange(t, c, first); !bytes.Equal(got, first) {
		t.Fatal("first exchange corrupted")
	}

	nw.Cut("a", "b")
	second, third := pattern(70_000, 2), pattern(5000, 3)
	done := async(t, c, func() result {
		n1, err := c.Write(second)
		if err != nil {
			return result{n: n1, err: err}
		}
		n2, err := c.Write(third)
		return result{n: n1 + n2, err: err}
	})
	waitUntil(t, testTimeout, "write never stalled", func() bool {
		return nw.Node("a").Stats().WritesStalled == 1
	})
	if !pending(done) {
		t.Fatal("write returned while the link was cut")
	}
	if got := srv.received.Load(); got != int64(len(first)) {
		t.Fatalf("server received %d bytes during the cut, want %d", got, len(first))
	}

	nw.Heal("a", "b")
	r := <-done
	if r.err != nil || r.n != len(second)+len(third) {
		t.Fatalf("write after heal = %d, %v; want %d, nil", r.n, r.err, len(second)+len(third))
	}
	got := make([]byte, len(second)+len(third))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read after heal: %v", err)
	}
	if !bytes.Equal(got, append(second, third...)) {
		t.Fatal("bytes after heal lost or reordered")
	}
}

func TestReadDeadlineDuringCutTimesOut(t *testing.T) {
	nw, _, c := dialPair(t, DefaultConfig(), echo)
	nw.Cut("b", "a")
	if _, err := c.Write([]byte("ping")); err != nil { // a → b still passes
		t.Fatalf("write: %v", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	n, err := c.Read(buf)
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read during cut = %d, %v; want 0 and a timeout net.Error", n, err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("timeout %v does not match os.ErrDeadlineExceeded", err)
	}
	if s := nw.Node("a").Stats(); s.ReadsStalled == 0 {
		t.Errorf("stats %+v: want a stalled read", s)
	}

	// The echo was held back, not lost: it arrives after the heal.
	nw.HealAll()
	if err := c.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read after heal = %q, %v; want \"ping\"", buf, err)
	}
}

func TestReadWaitsForHeal(t *testing.T) {
	nw, _, c := dialPair(t, DefaultConfig(), echo)
	done := async(t, c, func() result {
		buf := make([]byte, 4)
		n, err := io.ReadFull(c, buf)
		return result{n: n, err: err, b: buf}
	})
	nw.Cut("b", "a")
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatalf("write: %v", err)
	}
	waitUntil(t, testTimeout, "read never stalled", func() bool {
		return nw.Node("a").Stats().ReadsStalled == 1
	})
	if !pending(done) {
		t.Fatal("read returned across a cut link")
	}
	nw.Heal("b", "a")
	if r := <-done; r.err != nil || string(r.b) != "pong" {
		t.Fatalf("read after heal = %q, %v; want \"pong\"", r.b, r.err)
	}
}

func TestWriteDeadlineDuringCutTimesOut(t *testing.T) {
	nw, srv, c := dialPair(t, DefaultConfig(), echo)
	nw.Isolate("b")
	if err := c.SetDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Write([]byte("lost?"))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, ErrPartitioned) {
		t.Fatalf("write during cut = %d, %v; want 0 and a partition timeout", n, err)
	}
	if s := nw.Node("a").Stats(); s.StallTimeouts != 1 || s.WritesStalled != 1 {
		t.Errorf("stats %+v: want 1 stalled write that timed out", s)
	}
	if got := srv.received.Load(); got != 0 {
		t.Errorf("server received %d bytes of a timed-out write", got)
	}
}

func TestOneWayCutBlocksOneDirection(t *testing.T) {
	t.Run("dialer to remote cut", func(t *testing.T) {
		nw, _, c := dialPair(t, DefaultConfig(), greetThenEcho)
		nw.Cut("a", "b")
		if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("read over the open direction = %q, %v", buf, err)
		}
		if err := c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, ErrPartitioned) {
			t.Fatalf("write over the cut direction: %v, want ErrPartitioned", err)
		}
	})
	t.Run("remote to dialer cut", func(t *testing.T) {
		nw, srv, c := dialPair(t, DefaultConfig(), echo)
		nw.Cut("b", "a")
		if _, err := c.Write([]byte("abc")); err != nil {
			t.Fatalf("write over the open direction: %v", err)
		}
		waitUntil(t, testTimeout, "server never received the write", func() bool {
			return srv.received.Load() == 3
		})
		if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 3)); !errors.Is(err, ErrPartitioned) {
			t.Fatalf("read over the cut direction: %v, want ErrPartitioned", err)
		}
	})
}

func TestCloseWakesStalledCalls(t *testing.T) {
	nw, _, c := dialPair(t, DefaultConfig(), echo)
	nw.CutBoth("a", "b")
	w := async(t, c, func() result { n, err := c.Write([]byte("x")); return result{n: n, err: err} })
	r := async(t, c, func() result { n, err := c.Read(make([]byte, 1)); return result{n: n, err: err} })
	waitUntil(t, testTimeout, "calls never stalled", func() bool {
		s := nw.Node("a").Stats()
		return s.WritesStalled == 1 && s.ReadsStalled == 1
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan result{"write": w, "read": r} {
		if res := <-ch; !errors.Is(res.err, net.ErrClosed) {
			t.Errorf("%s after close: %v, want net.ErrClosed", name, res.err)
		}
	}
}

func TestDialAcrossCut(t *testing.T) {
	cases := []struct {
		name       string
		cut        func(nw *Network)
		ctxTimeout time.Duration // 0: none
		wantCtxErr bool
	}{
		{"dialer to remote cut, dial timeout", func(nw *Network) { nw.Cut("a", "b") }, 0, false},
		{"remote to dialer cut, dial timeout", func(nw *Network) { nw.Cut("b", "a") }, 0, false},
		{"isolated, context deadline first", func(nw *Network) { nw.Isolate("b") }, 20 * time.Millisecond, true},
		{"partitioned", func(nw *Network) { nw.Partition([]string{"a"}, []string{"b", "c"}) }, 0, false},
	}
	srv := startServer(t, echo)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := NewWithConfig(Config{DialTimeout: 100 * time.Millisecond})
			nw.AddNode("a")
			nw.AddNode("b", srv.addr())
			nw.AddNode("c")
			tc.cut(nw)
			// The clock starts before the context's deadline is set, so
			// that the deadline is never before start + ctxTimeout.
			start := time.Now()
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			c, err := nw.Node("a").Dial(ctx, srv.addr())
			if err == nil {
				_ = c.Close()
				t.Fatal("dial across a cut link succeeded")
			}
			if !errors.Is(err, ErrPartitioned) {
				t.Fatalf("dial error %v does not wrap ErrPartitioned", err)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tc.wantCtxErr {
				t.Errorf("dial error %v: wraps context.DeadlineExceeded = %v, want %v", err, got, tc.wantCtxErr)
			}
			wait := 100 * time.Millisecond // the network's dial timeout
			if tc.ctxTimeout > 0 {
				wait = tc.ctxTimeout
			}
			if elapsed := time.Since(start); elapsed < wait {
				t.Errorf("dial failed after %v, before its timeout %v", elapsed, wait)
			}
			if s := nw.Stats(); s.DialsRefused != 1 {
				t.Errorf("stats %+v: want 1 refused dial", s)
			}
		})
	}
}

func TestDialWaitsForHeal(t *testing.T) {
	srv := startServer(t, echo)
	nw := NewWithConfig(Config{DialTimeout: testTimeout})
	nw.AddNode("a")
	nw.AddNode("b", srv.addr())
	nw.Isolate("a")
	done := make(chan error, 1)
	go func() {
		c, err := nw.Node("a").Dial(context.Background(), srv.addr())
		if err == nil {
			err = c.Close()
		}
		done <- err
	}()
	nw.HealAll()
	if err := <-done; err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
}

func TestDialUnknownAddressIsPlain(t *testing.T) {
	srv := startServer(t, echo)
	nw := New()
	a := nw.AddNode("a")
	nw.AddNode("b")
	nw.Isolate("a")
	c, err := a.Dial(context.Background(), srv.addr())
	if err != nil {
		t.Fatalf("dial of an address no node owns: %v", err)
	}
	defer c.Close()
	if got := exchange(t, c, []byte("free")); string(got) != "free" {
		t.Fatalf("exchange = %q", got)
	}
}

func TestDelayAddsRoundTrip(t *testing.T) {
	const d = 30 * time.Millisecond
	nw, _, c := dialPair(t, DefaultConfig(), echo)
	nw.SetDelay("a", "b", d)
	nw.SetDelay("b", "a", d)
	start := time.Now()
	msgs := [][]byte{pattern(10, 1), pattern(3000, 2), pattern(10, 3)}
	for _, m := range msgs {
		if _, err := c.Write(m); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if err := c.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	want := bytes.Join(msgs, nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 2*d {
		t.Errorf("echo took %v, want at least the round trip %v", elapsed, 2*d)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("delayed bytes lost or reordered")
	}
}

package memnet

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"

	"github.com/meridian-io/meridian/internal/bubble"
)

func TestDialAcceptAndCut(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		n := New()
		l, err := n.Listen("b")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := n.Listen("b"); err == nil {
			t.Fatal("second listener on the same address")
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		c, err := n.Dialer("a")(context.Background(), "b")
		if err != nil {
			t.Fatal(err)
		}
		s := <-accepted
		if s.RemoteAddr().String() != "a" || c.RemoteAddr().String() != "b" || c.LocalAddr().Network() != "memnet" {
			t.Fatalf("addresses: server sees %s, client sees %s", s.RemoteAddr(), c.RemoteAddr())
		}
		go c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("read %q, %v", buf, err)
		}

		// A process exit closes its connections and leaves the link.
		go func() {
			if c, err := l.Accept(); err == nil {
				accepted <- c
			}
		}()
		c3, err := n.Dialer("a")(context.Background(), "b")
		if err != nil {
			t.Fatal(err)
		}
		s3 := <-accepted
		n.CloseConns("a")
		if _, err := s3.Read(buf); err == nil {
			t.Fatal("read after the peer's connections closed succeeded")
		}
		c3.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				accepted <- c
			}
		}()
		c, err = n.Dialer("a")(context.Background(), "b")
		if err != nil {
			t.Fatalf("dial after CloseConns: %v", err)
		}
		s = <-accepted

		// Cutting the link closes what is open on it and refuses dials.
		n.Disconnect("b", "a")
		if _, err := s.Read(buf); err == nil {
			t.Fatal("read on a cut link succeeded")
		}
		if _, err := n.Dialer("a")(context.Background(), "b"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("dial across a cut link: %v", err)
		}
		n.Connect("a", "b")
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		c2, err := n.Dialer("a")(context.Background(), "b")
		if err != nil {
			t.Fatalf("dial after Connect: %v", err)
		}
		c2.Close()
	})
}

func TestPartitionAndClosedListener(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		n := New()
		var ls []*Listener
		for _, a := range []string{"a", "b", "c"} {
			l, err := n.Listen(a)
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		n.Partition("a")
		for _, to := range []string{"b", "c"} {
			if _, err := n.Dialer("a")(context.Background(), to); !errors.Is(err, ErrUnreachable) {
				t.Errorf("a -> %s across the partition: %v", to, err)
			}
		}
		if c, err := n.Dialer("b")(context.Background(), "c"); err != nil {
			t.Errorf("b -> c on the same side: %v", err)
		} else {
			c.Close()
		}
		n.ConnectAll()
		n.DisconnectAll("c")
		if _, err := n.Dialer("a")(context.Background(), "c"); !errors.Is(err, ErrUnreachable) {
			t.Errorf("a -> c after DisconnectAll(c): %v", err)
		}
		for _, l := range ls {
			l.Close()
		}
		if _, err := ls[0].Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("accept after close: %v", err)
		}
		if _, err := n.Dialer("b")(context.Background(), "a"); !errors.Is(err, ErrUnreachable) {
			t.Errorf("dial to a closed listener: %v", err)
		}
	})
}

// A stalled direction swallows writes on open connections and new ones
// without closing them; the other direction delivers; Unstall restores it.
func TestStall(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		n := New()
		l, err := n.Listen("b")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			if c, err := l.Accept(); err == nil {
				accepted <- c
			}
		}()
		c, err := n.Dialer("a")(context.Background(), "b")
		if err != nil {
			t.Fatal(err)
		}
		s := <-accepted
		defer c.Close()
		defer s.Close()

		n.Stall("a", "b")
		if k, err := c.Write([]byte("lost")); k != 4 || err != nil {
			t.Fatalf("write into a stall: %d, %v; want it swallowed", k, err)
		}
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, 4)
			if _, err := io.ReadFull(s, buf); err == nil {
				got <- string(buf)
			}
		}()
		synctest.Wait()
		select {
		case g := <-got:
			t.Fatalf("read %q across a stall", g)
		default:
		}
		go s.Write([]byte("back"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "back" {
			t.Fatalf("the other direction read %q, %v", buf, err)
		}
		n.Unstall("a", "b")
		go c.Write([]byte("next"))
		if g := <-got; g != "next" {
			t.Fatalf("after Unstall read %q", g)
		}
	})
}

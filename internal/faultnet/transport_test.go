package faultnet

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// netTransport builds node's wrapped memberlist transport on 127.0.0.1 with
// a free port, shut down when the test ends.
func netTransport(t *testing.T, n *Node) *Transport {
	t.Helper()
	tr, err := n.NetTransport(memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

// nextPacket returns the next packet on tr within testTimeout.
func nextPacket(t *testing.T, tr *Transport) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(testTimeout):
		t.Fatal("no packet arrived")
		return nil
	}
}

func TestTransportPackets(t *testing.T) {
	nw := New()
	a, b := netTransport(t, nw.AddNode("a")), netTransport(t, nw.AddNode("b"))

	if _, err := a.WriteTo([]byte("one"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	if p := nextPacket(t, b); string(p.Buf) != "one" || normalizeAddr(p.From.String()) != a.Addr() {
		t.Fatalf("packet %q from %v; want \"one\" from %s", p.Buf, p.From, a.Addr())
	}

	// One way: a → b is lost, b → a passes.
	nw.Cut("a", "b")
	if _, err := a.WriteToAddress([]byte("lost"), memberlist.Address{Addr: b.Addr(), Name: "b"}); err != nil {
		t.Fatalf("a dropped packet must look sent: %v", err)
	}
	if got := nw.Node("a").Stats().PacketsDroppedOut; got != 1 {
		t.Fatalf("PacketsDroppedOut = %d, want 1", got)
	}
	if _, err := b.WriteTo([]byte("back"), a.Addr()); err != nil {
		t.Fatal(err)
	}
	if p := nextPacket(t, a); string(p.Buf) != "back" {
		t.Fatalf("packet over the open direction = %q", p.Buf)
	}

	// After the heal the next packet b sees is the one sent after it.
	nw.Heal("a", "b")
	if _, err := a.WriteTo([]byte("two"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	if p := nextPacket(t, b); string(p.Buf) != "two" {
		t.Fatalf("first packet after heal = %q, want \"two\"", p.Buf)
	}
}

func TestTransportDropsPacketsFromCutSender(t *testing.T) {
	nw := New()
	b := netTransport(t, nw.AddNode("b"))
	raw, err := net.ListenPacket("udp", "127.0.0.1:0") // an unwrapped sender
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	nw.AddNode("raw", raw.LocalAddr().String())
	dst, err := net.ResolveUDPAddr("udp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = b.PacketCh() // start filtering

	nw.Cut("raw", "b")
	if _, err := raw.WriteTo([]byte("lost"), dst); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, testTimeout, "packet from a cut sender never dropped", func() bool {
		return nw.Node("b").Stats().PacketsDroppedIn == 1
	})
	nw.HealAll()
	if _, err := raw.WriteTo([]byte("kept"), dst); err != nil {
		t.Fatal(err)
	}
	if p := nextPacket(t, b); string(p.Buf) != "kept" {
		t.Fatalf("packet after heal = %q, want \"kept\"", p.Buf)
	}
}

func TestTransportPacketDelay(t *testing.T) {
	const d = 30 * time.Millisecond
	nw := New()
	a, b := netTransport(t, nw.AddNode("a")), netTransport(t, nw.AddNode("b"))
	nw.SetDelay("a", "b", d)
	sent, err := a.WriteTo([]byte("late"), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	p := nextPacket(t, b)
	if string(p.Buf) != "late" {
		t.Fatalf("packet = %q", p.Buf)
	}
	if lag := p.Timestamp.Sub(sent); lag < d-time.Millisecond {
		t.Errorf("packet arrived %v after it was sent, want at least %v", lag, d)
	}
}

func TestTransportStreams(t *testing.T) {
	nw := NewWithConfig(Config{DialTimeout: 50 * time.Millisecond})
	a, b := netTransport(t, nw.AddNode("a")), netTransport(t, nw.AddNode("b"))

	nw.Cut("b", "a") // a handshake needs both directions
	if c, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrPartitioned) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("dial across a cut link: %v, want ErrPartitioned", err)
	}

	nw.HealAll()
	c, err := a.DialAddressTimeout(memberlist.Address{Addr: b.Addr(), Name: "b"}, time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	var accepted net.Conn
	select {
	case accepted = <-b.StreamCh():
	case <-time.After(testTimeout):
		t.Fatal("no stream accepted")
	}
	defer accepted.Close()

	// The dialed conn stalls across a cut and times out on its deadline.
	nw.Cut("a", "b")
	if err := c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("write across a cut: %v, want ErrPartitioned", err)
	}
	nw.HealAll()
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if err := accepted.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(accepted, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("accepted side read %q, %v", buf, err)
	}
	if s := nw.Stats(); s.DialsRefused != 1 || s.StallTimeouts != 1 {
		t.Errorf("stats %+v: want 1 refused dial and 1 stall timeout", s)
	}
}

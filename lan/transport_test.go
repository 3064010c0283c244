package lan

import (
	"errors"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// cuttableTransport wraps memberlist's net transport, counting what it sends
// and, once cut, isolating the node: outgoing packets are lost, dials are
// refused, incoming packets are dropped and incoming streams closed.
type cuttableTransport struct {
	*memberlist.NetTransport
	packets atomic.Int64
	cut     atomic.Bool

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	stop     chan struct{}
	done     sync.WaitGroup
}

func newCuttableTransport(nt *memberlist.NetTransport) *cuttableTransport {
	t := &cuttableTransport{
		NetTransport: nt,
		packetCh:     make(chan *memberlist.Packet),
		streamCh:     make(chan net.Conn),
		stop:         make(chan struct{}),
	}
	t.done.Add(2)
	go func() {
		defer t.done.Done()
		for {
			select {
			case p := <-nt.PacketCh():
				if t.cut.Load() {
					continue
				}
				select {
				case t.packetCh <- p:
				case <-t.stop:
					return
				}
			case <-t.stop:
				return
			}
		}
	}()
	go func() {
		defer t.done.Done()
		for {
			select {
			case c := <-nt.StreamCh():
				if t.cut.Load() {
					c.Close()
					continue
				}
				select {
				case t.streamCh <- c:
				case <-t.stop:
					c.Close()
					return
				}
			case <-t.stop:
				return
			}
		}
	}()
	return t
}

func (t *cuttableTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *cuttableTransport) StreamCh() <-chan net.Conn { return t.streamCh }

func (t *cuttableTransport) Shutdown() error {
	err := t.NetTransport.Shutdown()
	close(t.stop)
	t.done.Wait()
	return err
}

var errLinkCut = errors.New("link cut")

func (t *cuttableTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.cut.Load() {
		return time.Now(), nil // lost on the wire
	}
	t.packets.Add(1)
	return t.NetTransport.WriteToAddress(b, a)
}

func (t *cuttableTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.cut.Load() {
		return nil, errLinkCut
	}
	return t.NetTransport.DialAddressTimeout(a, timeout)
}

func TestCustomTransport(t *testing.T) {
	checkLeaks(t)
	port := freePort(t)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		BindPort:  port,
		Logger:    log.New(discard{}, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := newCuttableTransport(nt)
	a := startNode(t, "a", func(c *Config) {
		c.Transport = tr
		c.BindPort = port
	})
	b := startNode(t, "b", nil)
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 alive on a", func() bool { return aliveCount(a.pool) == 2 })
	waitFor(t, "a gossips through its transport", func() bool { return tr.packets.Load() > 0 })

	tr.cut.Store(true)
	waitFor(t, "a failed on b", func() bool { return memberStatus(b.pool, "a") == StatusFailed })
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

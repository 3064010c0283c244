package wan

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

// TestPartitionedDatacenterComesBack cuts the only server of dc2 off the
// WAN: dc1's router stops routing dc2, and once the link heals serf's
// reconnect brings dc2 back with no operator action.
func TestPartitionedDatacenterComesBack(t *testing.T) {
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
	a := startNode(t, "a", "dc1", nil)
	b := startNode(t, "b", "dc2", func(c *Config) {
		c.Transport = tr
		c.BindPort = port
	})
	if _, err := b.pool.Join([]string{a.addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a routes dc2", func() bool { return routes(a.pool, "dc2", "b.dc2") })
	waitFor(t, "b gossips through its transport", func() bool { return tr.packets.Load() > 0 })

	tr.cut.Store(true)
	cut := time.Now()
	waitFor(t, "dc2 unroutable on a", func() bool {
		_, err := a.pool.Router().ServersFor("dc2")
		return errors.Is(err, ErrNoServers)
	})
	t.Logf("WAN cut -> dc2 unroutable: %v", time.Since(cut).Round(time.Millisecond))

	tr.cut.Store(false)
	healed := time.Now()
	waitFor(t, "a routes dc2 again", func() bool { return routes(a.pool, "dc2", "b.dc2") })
	waitFor(t, "b routes dc1 again", func() bool { return routes(b.pool, "dc1", "a.dc1") })
	t.Logf("WAN healed -> dc2 routable: %v", time.Since(healed).Round(time.Millisecond))
}

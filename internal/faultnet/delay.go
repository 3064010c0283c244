package faultnet

import (
	"sync"
	"time"
)

// delayLine holds a conn's writes until their delivery time, in order.
type delayLine struct {
	mu     sync.Mutex
	queue  []delayedWrite
	size   int           // bytes in queue
	err    error         // the first error sending; sticky
	space  chan struct{} // closed and replaced when bytes leave the queue
	notify chan struct{} // signals the sender that the queue grew (cap 1)
}

type delayedWrite struct {
	at time.Time
	b  []byte
}

// delayLine returns the conn's delay line, starting it the first time a
// write sees a delay on the link; nil while the link never had one.
func (c *conn) delayLine() *delayLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line != nil || c.isClosed {
		return c.line
	}
	if c.node.nw.roundTrip(c.node.name, c.remote) <= 0 {
		return nil
	}
	c.line = &delayLine{space: make(chan struct{}), notify: make(chan struct{}, 1)}
	c.wg.Add(1)
	go c.sendDelayed(c.line)
	return c.line
}

// enqueue queues b for delivery a round trip from now, waiting (within the
// write deadline) while the queue is full.
func (c *conn) enqueue(l *delayLine, b []byte) (int, error) {
	err := c.waitFor("write", func() (bool, <-chan struct{}) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.err != nil || l.size == 0 || l.size+len(b) <= delayQueueLimit, l.space
	}, nil)
	if err != nil {
		return 0, err
	}
	at := time.Now().Add(c.node.nw.roundTrip(c.node.name, c.remote))
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return 0, err
	}
	l.queue = append(l.queue, delayedWrite{at: at, b: append([]byte(nil), b...)})
	l.size += len(b)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return len(b), nil
}

// sendDelayed is the delay line's goroutine: it sends each queued write at
// its time, once the link passes, until the conn is closed or a send fails.
func (c *conn) sendDelayed(l *delayLine) {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.mu.Unlock()
			select {
			case <-l.notify:
				continue
			case <-c.closed:
				return
			}
		}
		head := l.queue[0]
		l.mu.Unlock()

		if d := time.Until(head.at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-c.closed:
				return
			}
		}
		if err := c.waitFor("", func() (bool, <-chan struct{}) {
			return c.node.nw.linkState(c.node.name, c.remote)
		}, nil); err != nil {
			return // closed
		}
		_, err := c.Conn.Write(head.b)

		l.mu.Lock()
		l.queue[0] = delayedWrite{}
		l.queue = l.queue[1:]
		l.size -= len(head.b)
		if err != nil {
			l.err = err
			l.queue, l.size = nil, 0
		}
		close(l.space)
		l.space = make(chan struct{})
		l.mu.Unlock()
		if err != nil {
			return
		}
	}
}

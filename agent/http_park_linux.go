package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// epollWatch notices parked requests' clients leaving without a goroutine
// each: their sockets sit in one epoll set (one-shot, for the peer's
// hang-up or its first new byte) that one goroutine waits on. A socket
// is removed before its connection is closed or handed back, so a
// descriptor number in the set always means the connection that added
// it; each registration also carries its own sequence number, and an
// event whose number is not the current one is dropped.
type epollWatch struct {
	epfd   int
	wake   *os.File // closing its pair ends the loop
	wakeW  *os.File
	mu     sync.Mutex
	seq    int32
	byFD   map[int32]*epollHangup
	closed bool
	done   chan struct{}
}

func newEpollWatch() (*epollWatch, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	rfd := int(r.Fd())
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLHUP, Fd: int32(rfd), Pad: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, rfd, &ev); err != nil {
		syscall.Close(epfd)
		r.Close()
		w.Close()
		return nil, err
	}
	e := &epollWatch{epfd: epfd, wake: r, wakeW: w, byFD: map[int32]*epollHangup{}, done: make(chan struct{})}
	go e.loop()
	return e, nil
}

func (e *epollWatch) loop() {
	defer close(e.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(e.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Pad == -1 {
				return // the wake pipe: closing
			}
			e.mu.Lock()
			h := e.byFD[ev.Fd]
			if h == nil || h.seq != ev.Pad {
				e.mu.Unlock()
				continue
			}
			e.mu.Unlock()
			// One-shot: the socket reports nothing more until removed.
			if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				h.gone.Store(true)
				h.cancel()
			}
		}
	}
}

// close ends the loop; watches still registered are left as they are
// (their stop only removes them).
func (e *epollWatch) close() {
	if e == nil {
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	e.wakeW.Close()
	<-e.done
	e.mu.Lock()
	syscall.Close(e.epfd)
	e.epfd = -1
	e.mu.Unlock()
	e.wake.Close()
}

// epollHangup is one socket's registration.
type epollHangup struct {
	e      *epollWatch
	rc     syscall.RawConn
	fd     int32
	seq    int32
	cancel context.CancelFunc
	gone   atomic.Bool
}

// add registers conn's socket; nil if it has none to watch or the watch
// is closed.
func (e *epollWatch) add(conn net.Conn, cancel context.CancelFunc) *epollHangup {
	sc, ok := socketOf(conn).(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var h *epollHangup
	cerr := rc.Control(func(fd uintptr) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed || e.byFD[int32(fd)] != nil {
			return
		}
		e.seq = (e.seq + 1) & 0x7fffffff // -1 is the wake pipe's
		x := &epollHangup{e: e, rc: rc, fd: int32(fd), seq: e.seq, cancel: cancel}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: x.fd, Pad: x.seq}
		if syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) != nil {
			return
		}
		e.byFD[x.fd] = x
		h = x
	})
	if cerr != nil {
		return nil
	}
	return h
}

// stop removes the socket from the set; the connection is still open.
func (h *epollHangup) stop() (bool, []byte) {
	e := h.e
	e.mu.Lock()
	if e.byFD[h.fd] == h {
		delete(e.byFD, h.fd)
		if e.epfd >= 0 {
			syscall.EpollCtl(e.epfd, syscall.EPOLL_CTL_DEL, int(h.fd), nil)
		}
	}
	e.mu.Unlock()
	return h.gone.Load(), nil
}

// socketOf is the network connection under the wrappers the HTTP
// listeners put around it.
func socketOf(c net.Conn) net.Conn {
	for {
		switch x := c.(type) {
		case *tls.Conn:
			c = x.NetConn()
		case *limitedConn:
			c = x.Conn
		case *prefixConn:
			c = x.Conn
		default:
			return c
		}
	}
}

func newHangupWatch() *epollWatch {
	e, err := newEpollWatch()
	if err != nil {
		return nil
	}
	return e
}

// watchHangup watches conn through the epoll set, or with a reading
// goroutine where it cannot.
func (p *parker) watchHangup(conn net.Conn, cancel context.CancelFunc) hangup {
	if p.hup != nil {
		if h := p.hup.add(conn, cancel); h != nil {
			return h
		}
	}
	return watchByRead(conn, cancel)
}

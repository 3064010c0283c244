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
// hang-up or its first new byte) that one goroutine waits on. Each
// registration carries its own sequence number, and byFD holds the
// parked ones: an event whose number is not that of its descriptor's
// parked request is dropped. A socket stays in the set when its read is
// answered (one system call fewer per answer, the answers of a fan-out
// being written one after another): its next park re-arms it with a new
// number (EPOLL_CTL_MOD), its next byte or hang-up meanwhile wakes the
// loop once for nothing, and the kernel takes it out of the set when the
// connection is closed (nothing duplicates these descriptors).
type epollWatch struct {
	epfd  int
	wake  *os.File // closing its pair ends the loop
	wakeW *os.File
	mu    sync.Mutex
	seq   int32
	byFD  map[int32]*epollHangup
	// kept holds the descriptors left in the set by answered reads (a
	// hint: some may have been closed since).
	kept   map[int32]struct{}
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
	e := &epollWatch{epfd: epfd, wake: r, wakeW: w, byFD: map[int32]*epollHangup{}, kept: map[int32]struct{}{}, done: make(chan struct{})}
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
		// A descriptor kept from an earlier park is most likely the same
		// connection, still in the set; if that one was closed since, the
		// number is new to the set. Either guess is corrected once.
		first, second := syscall.EPOLL_CTL_ADD, syscall.EPOLL_CTL_MOD
		if _, ok := e.kept[x.fd]; ok {
			delete(e.kept, x.fd)
			first, second = second, first
		}
		err := syscall.EpollCtl(e.epfd, first, int(fd), &ev)
		if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOENT) {
			err = syscall.EpollCtl(e.epfd, second, int(fd), &ev)
		}
		if err != nil {
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

// stop ends the watch: events of this registration are dropped from now
// on. The socket stays in the set (see epollWatch).
func (h *epollHangup) stop() (bool, []byte) {
	e := h.e
	e.mu.Lock()
	gone := h.gone.Load()
	if e.byFD[h.fd] == h {
		delete(e.byFD, h.fd)
		if !gone {
			e.kept[h.fd] = struct{}{}
		}
	}
	e.mu.Unlock()
	return gone, nil
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
	return p.watchByRead(conn, cancel)
}

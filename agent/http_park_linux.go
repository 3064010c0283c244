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
	"time"
	"unsafe"
)

// epollWatch notices parked requests' clients leaving without a goroutine
// each: their sockets sit in one epoll set (one-shot, for the peer's
// hang-up or its first new byte) that one goroutine waits on. Each
// registration carries its own sequence number, and byFD holds the
// parked ones: an event whose number is not that of its descriptor's
// parked request is dropped. A socket stays in the set when its read is
// answered (one system call fewer per answer, the answers of a fan-out
// being written one after another). Its connection then usually waits
// there for its next request (idleFD, see idle), its registration still
// armed; one handed back to net/http instead has its next byte or
// hang-up wake the loop once for nothing. The next park re-arms the
// registration with a new number (EPOLL_CTL_MOD), and the kernel takes
// the socket out of the set when the connection is closed (nothing
// duplicates these descriptors).
type epollWatch struct {
	epfd  int
	wake  *os.File // closing its pair ends the loop
	wakeW *os.File
	mu    sync.Mutex
	seq   int32
	byFD  map[int32]*epollHangup
	// idleFD holds the answered connections waiting for their next
	// request (see idle), by descriptor.
	idleFD map[int32]*idleConn
	// stray holds the sequence number of an event that came for a
	// descriptor nobody held (parked or idle) at the time.
	stray map[int32]int32
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
	e := &epollWatch{epfd: epfd, wake: r, wakeW: w, byFD: map[int32]*epollHangup{}, idleFD: map[int32]*idleConn{}, stray: map[int32]int32{}, kept: map[int32]struct{}{}, done: make(chan struct{})}
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
			if h := e.byFD[ev.Fd]; h != nil && h.seq == ev.Pad {
				// One-shot: the socket reports nothing more until re-armed.
				h.fired = true
				e.mu.Unlock()
				if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					h.gone.Store(true)
					h.cancel()
				}
				continue
			}
			if ic := e.idleFD[ev.Fd]; ic != nil && ic.seq == ev.Pad {
				delete(e.idleFD, ev.Fd)
				if ic.timer != nil {
					ic.timer.Stop()
				}
				// Its next request (served by net/http, the socket
				// still in the set for its next park), or its end: a
				// peer that hung up is readable too (the end of the
				// stream), and has sent a request only if bytes wait.
				readable := ev.Events&syscall.EPOLLIN != 0
				if readable && ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					readable = bytesWaiting(int(ev.Fd))
				}
				if readable {
					e.kept[ev.Fd] = struct{}{}
				}
				e.mu.Unlock()
				go ic.wake(readable)
				continue
			}
			// A registration between owners: its read answered, the
			// connection not yet idle (or handed back). idle must see
			// that it fired.
			e.stray[ev.Fd] = ev.Pad
			e.mu.Unlock()
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
	fired  bool // an event of this registration came (guarded by e.mu)
}

// idleConn is an answered connection the watch holds until its next
// request.
type idleConn struct {
	conn  net.Conn
	seq   int32
	timer *time.Timer
	wake  func(readable bool)
}

// idle keeps conn, whose parked read h watched and was answered, in the
// set (under h's registration, still armed) until the socket has a byte
// to read (wake(true): the next request) or its peer hangs up
// (wake(false)); after timeout (if > 0) it closes conn. False if h's
// registration already reported an event (it is disarmed) or the watch
// is closed.
func (h *epollHangup) idle(conn net.Conn, timeout time.Duration, wake func(readable bool)) bool {
	e := h.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.stray[h.fd]; e.closed || h.fired || (ok && s == h.seq) || e.byFD[h.fd] != nil || e.idleFD[h.fd] != nil {
		return false
	}
	delete(e.kept, h.fd) // stop put it there; the idle entry holds it now
	ic := &idleConn{conn: conn, seq: h.seq, wake: wake}
	if timeout > 0 {
		ic.timer = time.AfterFunc(timeout, func() {
			e.mu.Lock()
			mine := e.idleFD[h.fd] == ic
			if mine {
				delete(e.idleFD, h.fd)
			}
			e.mu.Unlock()
			if mine {
				conn.Close()
			}
		})
	}
	e.idleFD[h.fd] = ic
	return true
}

// idleConns is the number of idle connections held.
func (e *epollWatch) idleConns() int {
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.idleFD)
}

// closeIdle closes every idle connection (the parker is closing).
func (e *epollWatch) closeIdle() {
	if e == nil {
		return
	}
	e.mu.Lock()
	idle := e.idleFD
	e.idleFD = map[int32]*idleConn{}
	e.mu.Unlock()
	for _, ic := range idle {
		if ic.timer != nil {
			ic.timer.Stop()
		}
		ic.conn.Close()
	}
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
		delete(e.stray, x.fd)
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

// bytesWaiting reports whether socket fd has bytes to read (FIONREAD).
func bytesWaiting(fd int) bool {
	var n int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	return errno == 0 && n > 0
}

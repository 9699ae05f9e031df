//go:build linux

// Command bareloop is the floor of an event-loop design in Go, for the
// benchmark notes of docs/performance.md (issue 16): an HTTP/1.1
// forwarder on raw epoll, as HAProxy and nginx are built, with no
// goroutine per connection. Each of GOMAXPROCS loops runs on its own
// locked thread with its own SO_REUSEPORT listener; a caller connection
// gets one keep-alive upstream connection in the same loop. It reads only
// what epoll reported readable and writes at once, buffering only what a
// full socket refuses.
//
// Like test/bench/bareproxy, the goroutine-per-connection floor, it
// does nothing else: no routing, no policy, no header rewriting, no
// safety checks, GET without bodies and Content-Length responses only.
// Set side by side with bareproxy and HAProxy, it says what Go's
// goroutines and netpoller cost a proxy, and so what an event-loop
// slinkerd could gain; it is not for use.
//
//	go run ./test/bench/bareloop -listen 127.0.0.1:14144 -upstream 127.0.0.1:8080
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"runtime"
	"strconv"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14144", "address to listen on")
	upstream := flag.String("upstream", "", "host:port of the HTTP/1.1 backend")
	flag.Parse()
	lsa, err := sockaddr(*listen)
	if err != nil {
		log.Fatal(err)
	}
	usa, err := sockaddr(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	n := runtime.GOMAXPROCS(0)
	errc := make(chan error, n)
	for range n {
		l, err := newLoop(lsa, usa)
		if err != nil {
			log.Fatal(err)
		}
		go func() { errc <- l.run() }()
	}
	log.Fatal(<-errc)
}

// sockaddr resolves an IPv4 host:port.
func sockaddr(hostport string) (*syscall.SockaddrInet4, error) {
	a, err := net.ResolveTCPAddr("tcp4", hostport)
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", hostport, err)
	}
	sa := &syscall.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	return sa, nil
}

// side is one socket of a pair: its fd, the bytes it did not take yet
// (out, when it was full), and the state of the message read from it.
type side struct {
	fd   int
	out  []byte // bytes for this socket that it did not take yet
	head []byte // the head read so far (a response head split across reads)
	body int    // body bytes of the current message still to come
	isUp bool   // the upstream side: its messages are responses
	pair *pair
}

type pair struct{ caller, up side }

// peer is the other socket of s's pair.
func (s *side) peer() *side {
	if s.isUp {
		return &s.pair.caller
	}
	return &s.pair.up
}

type loop struct {
	ep    int
	lfd   int
	usa   *syscall.SockaddrInet4
	sides map[int]*side
	buf   []byte
}

func newLoop(lsa, usa *syscall.SockaddrInet4) (*loop, error) {
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1); err != nil {
		return nil, fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if err := syscall.Bind(lfd, lsa); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := syscall.Listen(lfd, 1024); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return nil, fmt.Errorf("epoll_ctl listener: %w", err)
	}
	return &loop{ep: ep, lfd: lfd, usa: usa, sides: make(map[int]*side), buf: make([]byte, 64<<10)}, nil
}

func (l *loop) run() error {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(l.ep, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			s := l.sides[fd]
			if s == nil {
				continue // closed by an earlier event of this batch
			}
			if ev.Events&syscall.EPOLLOUT != 0 && !l.flush(s) {
				continue
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				l.read(s)
			}
		}
	}
}

func (l *loop) accept() {
	for {
		cfd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or the caller went already
		}
		// A blocking connect to a loopback backend takes microseconds;
		// connections are kept alive, so it is not what is measured.
		ufd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err == nil {
			err = syscall.Connect(ufd, l.usa)
			if err == nil {
				err = syscall.SetNonblock(ufd, true)
			}
			if err != nil {
				syscall.Close(ufd)
			}
		}
		if err != nil {
			syscall.Close(cfd)
			continue
		}
		_ = syscall.SetsockoptInt(ufd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		_ = syscall.SetsockoptInt(cfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		p := &pair{}
		p.caller = side{fd: cfd, pair: p}
		p.up = side{fd: ufd, isUp: true, pair: p}
		l.sides[cfd], l.sides[ufd] = &p.caller, &p.up
		for _, fd := range []int{cfd, ufd} {
			if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
				l.close(p)
				break
			}
		}
	}
}

// read takes what s has and passes it to its peer.
func (l *loop) read(s *side) {
	n, err := syscall.Read(s.fd, l.buf)
	if n <= 0 {
		if errors.Is(err, syscall.EAGAIN) {
			return
		}
		l.close(s.pair)
		return
	}
	b := l.buf[:n]
	if s.isUp && !l.frame(s, b) {
		l.close(s.pair)
		return
	}
	l.send(s.peer(), b)
}

// frame follows the responses in b, as a proxy must to know where one
// ends: the head up to its blank line, with its Content-Length, then the
// body. (Requests are GETs without bodies: the caller's bytes pass as
// they come.)
func (l *loop) frame(s *side, b []byte) bool {
	for len(b) > 0 {
		if s.body > 0 {
			k := min(s.body, len(b))
			s.body -= k
			b = b[k:]
			continue
		}
		data := b
		if len(s.head) > 0 {
			s.head = append(s.head, b...)
			data = s.head
		}
		end := bytes.Index(data, crlfcrlf)
		if end < 0 {
			if len(s.head) == 0 {
				s.head = append(s.head, b...)
			}
			return len(s.head) <= 16<<10
		}
		cl, ok := contentLength(data[:end+2])
		if !ok {
			return false
		}
		s.body = cl
		b = data[end+4:]
		if len(s.head) > 0 {
			b = append([]byte(nil), b...) // s.head's storage is reused
			s.head = s.head[:0]
		}
	}
	return true
}

var crlfcrlf = []byte("\r\n\r\n")

var clName = []byte("content-length:")

func contentLength(head []byte) (int, bool) {
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		line := head[:i+1]
		head = head[i+1:]
		if len(line) > len(clName) && bytes.EqualFold(line[:len(clName)], clName) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(line[len(clName):])))
			return n, err == nil && n >= 0
		}
	}
	return 0, true
}

// send writes b to s, keeping what the socket does not take.
func (l *loop) send(s *side, b []byte) {
	if len(s.out) > 0 {
		s.out = append(s.out, b...)
		return
	}
	for len(b) > 0 {
		n, err := syscall.Write(s.fd, b)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				s.out = append(s.out[:0], b...)
				_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, s.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLOUT, Fd: int32(s.fd)})
				return
			}
			l.close(s.pair)
			return
		}
		b = b[n:]
	}
}

// flush writes what s kept; false if the pair closed.
func (l *loop) flush(s *side) bool {
	for len(s.out) > 0 {
		n, err := syscall.Write(s.fd, s.out)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				return true
			}
			l.close(s.pair)
			return false
		}
		s.out = s.out[n:]
	}
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, s.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(s.fd)})
	return true
}

func (l *loop) close(p *pair) {
	for _, s := range []*side{&p.caller, &p.up} {
		if l.sides[s.fd] == s {
			delete(l.sides, s.fd)
			_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, s.fd, nil)
			syscall.Close(s.fd)
		}
	}
}

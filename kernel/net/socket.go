package net

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// Flags of socket(2)'s type argument and of accept4(2). SOCK_CLOEXEC is a
// file-descriptor flag, so the system-call layer acts on it, not Socket.
const (
	SOCK_NONBLOCK = syscall.SOCK_NONBLOCK
	SOCK_CLOEXEC  = syscall.SOCK_CLOEXEC
)

// Message flags understood by SendTo/RecvFrom/SendMsg/RecvMsg.
const (
	MSG_PEEK     = syscall.MSG_PEEK
	MSG_TRUNC    = syscall.MSG_TRUNC
	MSG_DONTWAIT = syscall.MSG_DONTWAIT
	MSG_WAITALL  = syscall.MSG_WAITALL
	MSG_NOSIGNAL = syscall.MSG_NOSIGNAL
)

// SocketOps is what the system-call layer calls on a socket description
// beyond the fdesc.Description methods. *Socket implements it. Addresses
// are raw Linux sockaddr bytes (sockaddr_in or sockaddr_in6), exactly as
// the program passes or expects them.
//
// SendTo and friends return EPIPE for a stream that can no longer send;
// raising SIGPIPE (unless MSG_NOSIGNAL) is the system-call layer's job.
type SocketOps interface {
	fdesc.Description
	fdesc.Pollable
	Bind(addr []byte) error
	Listen(backlog int) error
	// Accept takes a connection; flags are accept4's (SOCK_NONBLOCK is
	// applied here, SOCK_CLOEXEC is the caller's). It returns the new
	// socket and the peer's address.
	Accept(flags int) (SocketOps, []byte, error)
	Connect(addr []byte) error
	Shutdown(how int) error
	GetSockName() ([]byte, error)
	GetPeerName() ([]byte, error)
	// SetSockOpt/GetSockOpt take the option value as raw bytes; GetSockOpt
	// returns the value to copy out (the caller truncates to optlen).
	SetSockOpt(level, name int, val []byte) error
	GetSockOpt(level, name int) ([]byte, error)
	SendTo(p []byte, flags int, to []byte) (int, error)
	RecvFrom(p []byte, flags int) (n int, from []byte, err error)
	// SendMsg/RecvMsg work on an iovec; control messages are not
	// supported, so msg_controllen comes back 0. msgFlags is the
	// msg_flags result (MSG_TRUNC for a cut datagram).
	SendMsg(iov [][]byte, flags int, to []byte) (int, error)
	RecvMsg(iov [][]byte, flags int) (n int, from []byte, msgFlags int, err error)
}

// Socket is an AF_INET or AF_INET6 socket: a netstack endpoint plus the
// Linux file semantics around it (blocking, O_NONBLOCK, readiness).
type Socket struct {
	stack    *Stack
	family   int
	stype    int
	protocol int
	ep       tcpip.Endpoint
	wq       *waiter.Queue
	ino      uint64

	// entry stays registered on wq for the socket's life and fans
	// readiness changes out to the Watch callbacks (epoll).
	entry waiter.Entry

	mu       sync.Mutex
	flags    int // O_RDWR plus O_NONBLOCK
	watchers map[uint64]func()
	nextW    uint64
	rcvTimeo time.Duration // SO_RCVTIMEO; 0 is forever
	sndTimeo time.Duration // SO_SNDTIMEO
	closed   bool
}

var (
	_ SocketOps         = (*Socket)(nil)
	_ fdesc.Pollable    = (*Socket)(nil)
	_ fdesc.Description = (*Socket)(nil)
)

var nextIno atomic.Uint64

// Socket implements socket(2) for the inet families. typ may carry
// SOCK_NONBLOCK and SOCK_CLOEXEC; protocol 0 picks TCP for streams and UDP
// for datagrams. SOCK_DGRAM with IPPROTO_ICMP/IPPROTO_ICMPV6 gives an
// unprivileged "ping" socket as on Linux.
func (s *Stack) Socket(domain, typ, protocol int) (*Socket, error) {
	var netProto tcpip.NetworkProtocolNumber
	switch domain {
	case syscall.AF_INET:
		netProto = ipv4.ProtocolNumber
	case syscall.AF_INET6:
		netProto = ipv6.ProtocolNumber
	default:
		return nil, syscall.EAFNOSUPPORT
	}
	base := typ &^ (SOCK_NONBLOCK | SOCK_CLOEXEC)
	var trans tcpip.TransportProtocolNumber
	switch {
	case base == syscall.SOCK_STREAM && (protocol == 0 || protocol == syscall.IPPROTO_TCP):
		trans, protocol = tcp.ProtocolNumber, syscall.IPPROTO_TCP
	case base == syscall.SOCK_DGRAM && (protocol == 0 || protocol == syscall.IPPROTO_UDP):
		trans, protocol = udp.ProtocolNumber, syscall.IPPROTO_UDP
	case base == syscall.SOCK_DGRAM && domain == syscall.AF_INET && protocol == syscall.IPPROTO_ICMP:
		trans = icmp.ProtocolNumber4
	case base == syscall.SOCK_DGRAM && domain == syscall.AF_INET6 && protocol == syscall.IPPROTO_ICMPV6:
		trans = icmp.ProtocolNumber6
	case base == syscall.SOCK_STREAM || base == syscall.SOCK_DGRAM:
		return nil, syscall.EPROTONOSUPPORT
	default:
		return nil, syscall.ESOCKTNOSUPPORT
	}
	wq := new(waiter.Queue)
	ep, err := s.ns.NewEndpoint(trans, netProto, wq)
	if err != nil {
		return nil, errno(err)
	}
	return s.newSocket(domain, base, protocol, ep, wq, typ&SOCK_NONBLOCK != 0), nil
}

func (s *Stack) newSocket(family, stype, protocol int, ep tcpip.Endpoint, wq *waiter.Queue, nonblock bool) *Socket {
	so := &Socket{
		stack:    s,
		family:   family,
		stype:    stype,
		protocol: protocol,
		ep:       ep,
		wq:       wq,
		ino:      nextIno.Add(1),
		flags:    syscall.O_RDWR,
		watchers: make(map[uint64]func()),
	}
	if nonblock {
		so.flags |= syscall.O_NONBLOCK
	}
	// Linux sockets are dual-stack unless IPV6_V6ONLY is set; netstack's
	// default is the same but say so explicitly.
	if family == syscall.AF_INET6 {
		ep.SocketOptions().SetV6Only(false)
	}
	so.entry = waiter.NewFunctionEntry(waiter.EventIn|waiter.EventOut|waiter.EventErr|
		waiter.EventHUp|waiter.EventRdHUp|waiter.EventPri, func(waiter.EventMask) { so.notify() })
	wq.EventRegister(&so.entry)
	return so
}

// notify calls every Watch callback. It runs inside netstack's queue
// notification, so the callbacks must not block (fdesc.Pollable says so).
func (so *Socket) notify() {
	so.mu.Lock()
	fns := make([]func(), 0, len(so.watchers))
	for _, fn := range so.watchers {
		fns = append(fns, fn)
	}
	so.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Readiness implements fdesc.Pollable; netstack's event bits are Linux's.
func (so *Socket) Readiness() uint32 {
	return uint32(so.ep.Readiness(waiter.EventIn | waiter.EventOut | waiter.EventErr |
		waiter.EventHUp | waiter.EventRdHUp | waiter.EventPri))
}

// Watch implements fdesc.Pollable.
func (so *Socket) Watch(fn func()) (cancel func()) {
	so.mu.Lock()
	id := so.nextW
	so.nextW++
	so.watchers[id] = fn
	so.mu.Unlock()
	return func() {
		so.mu.Lock()
		delete(so.watchers, id)
		so.mu.Unlock()
	}
}

func (so *Socket) nonblocking(msgFlags int) bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.flags&syscall.O_NONBLOCK != 0 || msgFlags&MSG_DONTWAIT != 0
}

// retry runs op until it does not report ErrWouldBlock, sleeping on the
// socket's wait queue for mask in between. The waiter is registered before
// the second attempt so a wake-up between attempt and sleep is not lost.
// A non-blocking call returns EAGAIN at once; timeout (SO_RCVTIMEO or
// SO_SNDTIMEO, 0 for none) also ends in EAGAIN, as on Linux.
func (so *Socket) retry(mask waiter.EventMask, nonblock bool, timeout time.Duration, op func() tcpip.Error) error {
	err := op()
	if _, ok := err.(*tcpip.ErrWouldBlock); !ok || nonblock {
		return errno(err)
	}
	e, ch := waiter.NewChannelEntry(mask)
	so.wq.EventRegister(&e)
	defer so.wq.EventUnregister(&e)
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		err = op()
		if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
			return errno(err)
		}
		select {
		case <-ch:
		case <-expired:
			return syscall.EAGAIN
		}
	}
}

func (so *Socket) timeouts() (rcv, snd time.Duration) {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.rcvTimeo, so.sndTimeo
}

// Read implements fdesc.Description (read(2) is recvfrom without flags).
func (so *Socket) Read(p []byte) (int, error) {
	n, _, _, err := so.recv([][]byte{p}, 0, false)
	return n, err
}

// Write implements fdesc.Description.
func (so *Socket) Write(p []byte) (int, error) {
	return so.send([][]byte{p}, 0, nil)
}

// Close implements fdesc.Description. Closing a TCP socket with unread
// data resets the connection, as Linux does; SO_LINGER is honored by
// netstack.
func (so *Socket) Close() error {
	so.mu.Lock()
	if so.closed {
		so.mu.Unlock()
		return nil
	}
	so.closed = true
	so.mu.Unlock()
	so.wq.EventUnregister(&so.entry)
	so.ep.Close()
	// Wake anyone still blocked (another thread in accept or read).
	so.wq.Notify(waiter.EventHUp | waiter.EventErr | waiter.EventIn | waiter.EventOut)
	return nil
}

// Stat implements fdesc.Description: a socket inode, as fstat shows it.
func (so *Socket) Stat(st *syscall.Stat_t) error {
	*st = syscall.Stat_t{
		Mode:    syscall.S_IFSOCK | 0o777,
		Ino:     so.ino,
		Nlink:   1,
		Blksize: 4096,
	}
	return nil
}

// Flags implements fdesc.Description.
func (so *Socket) Flags() int {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.flags
}

// SetFlags implements fdesc.Description; only O_NONBLOCK can change.
func (so *Socket) SetFlags(flags int) error {
	so.mu.Lock()
	defer so.mu.Unlock()
	so.flags = so.flags&^syscall.O_NONBLOCK | flags&syscall.O_NONBLOCK
	return nil
}

// Bind implements bind(2).
func (so *Socket) Bind(addr []byte) error {
	fa, err := parseSockaddr(so.family, addr)
	if err != nil {
		return err
	}
	return errno(so.ep.Bind(fa))
}

// somaxconn is Linux's default cap on the listen backlog.
const somaxconn = 4096

// Listen implements listen(2). Like Linux, a backlog larger than
// somaxconn (including a negative one, compared unsigned) is capped.
func (so *Socket) Listen(backlog int) error {
	if so.stype != syscall.SOCK_STREAM {
		return syscall.EOPNOTSUPP
	}
	if uint(backlog) > somaxconn {
		backlog = somaxconn
	}
	return errno(so.ep.Listen(backlog))
}

// Accept implements accept4(2).
func (so *Socket) Accept(flags int) (SocketOps, []byte, error) {
	if flags&^(SOCK_NONBLOCK|SOCK_CLOEXEC) != 0 {
		return nil, nil, syscall.EINVAL
	}
	var (
		peer tcpip.FullAddress
		nep  tcpip.Endpoint
		nwq  *waiter.Queue
	)
	rcv, _ := so.timeouts()
	err := so.retry(waiter.ReadableEvents, so.nonblocking(0), rcv, func() tcpip.Error {
		var terr tcpip.Error
		nep, nwq, terr = so.ep.Accept(&peer)
		return terr
	})
	if err != nil {
		return nil, nil, err
	}
	ns := so.stack.newSocket(so.family, so.stype, so.protocol, nep, nwq, flags&SOCK_NONBLOCK != 0)
	return ns, encodeSockaddr(so.family, peer), nil
}

// Connect implements connect(2). A blocking connect waits for the
// handshake; a non-blocking one returns EINPROGRESS and completion shows
// as writability, with the outcome in SO_ERROR. For datagram sockets
// AF_UNSPEC dissolves the association.
func (so *Socket) Connect(addr []byte) error {
	if len(addr) >= 2 && addr[0] == syscall.AF_UNSPEC && addr[1] == 0 {
		if so.stype == syscall.SOCK_STREAM {
			return syscall.EOPNOTSUPP // Linux disconnects; Go never does this
		}
		return errno(so.ep.Disconnect())
	}
	fa, err := parseSockaddr(so.family, addr)
	if err != nil {
		return err
	}
	if so.stype == syscall.SOCK_STREAM {
		// netstack accepts a repeated connect on an established
		// endpoint; Linux says EISCONN.
		if _, err := so.ep.GetRemoteAddress(); err == nil {
			return syscall.EISCONN
		}
	}
	terr := so.ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); !ok {
		return errno(terr)
	}
	if so.nonblocking(0) {
		return syscall.EINPROGRESS
	}
	_, snd := so.timeouts()
	e, ch := waiter.NewChannelEntry(waiter.WritableEvents | waiter.EventErr | waiter.EventHUp)
	so.wq.EventRegister(&e)
	defer so.wq.EventUnregister(&e)
	var expired <-chan time.Time
	if snd > 0 {
		t := time.NewTimer(snd)
		defer t.Stop()
		expired = t.C
	}
	for so.ep.Readiness(waiter.WritableEvents|waiter.EventErr|waiter.EventHUp) == 0 {
		select {
		case <-ch:
		case <-expired:
			return syscall.EINPROGRESS // Linux: a timed-out connect
		}
	}
	return so.takeError()
}

// Shutdown implements shutdown(2).
func (so *Socket) Shutdown(how int) error {
	var f tcpip.ShutdownFlags
	switch how {
	case syscall.SHUT_RD:
		f = tcpip.ShutdownRead
	case syscall.SHUT_WR:
		f = tcpip.ShutdownWrite
	case syscall.SHUT_RDWR:
		f = tcpip.ShutdownRead | tcpip.ShutdownWrite
	default:
		return syscall.EINVAL
	}
	return errno(so.ep.Shutdown(f))
}

// GetSockName implements getsockname(2).
func (so *Socket) GetSockName() ([]byte, error) {
	fa, err := so.ep.GetLocalAddress()
	if err != nil {
		return nil, errno(err)
	}
	return encodeSockaddr(so.family, fa), nil
}

// GetPeerName implements getpeername(2).
func (so *Socket) GetPeerName() ([]byte, error) {
	fa, err := so.ep.GetRemoteAddress()
	if err != nil {
		return nil, errno(err)
	}
	return encodeSockaddr(so.family, fa), nil
}

// SendTo implements sendto(2).
func (so *Socket) SendTo(p []byte, flags int, to []byte) (int, error) {
	return so.send([][]byte{p}, flags, to)
}

// SendMsg implements sendmsg(2) without control messages.
func (so *Socket) SendMsg(iov [][]byte, flags int, to []byte) (int, error) {
	return so.send(iov, flags, to)
}

// RecvFrom implements recvfrom(2).
func (so *Socket) RecvFrom(p []byte, flags int) (int, []byte, error) {
	n, from, _, err := so.recv([][]byte{p}, flags, true)
	return n, from, err
}

// RecvMsg implements recvmsg(2) without control messages.
func (so *Socket) RecvMsg(iov [][]byte, flags int) (int, []byte, int, error) {
	return so.recv(iov, flags, true)
}

// send writes the gathered iovec. A stream socket in blocking mode keeps
// going until everything is queued (Linux's semantics for blocking
// sends); a non-blocking one returns what fit, or EAGAIN if nothing did.
// A datagram is sent whole or not at all.
func (so *Socket) send(iov [][]byte, flags int, to []byte) (int, error) {
	var opts tcpip.WriteOptions
	if to != nil && so.stype != syscall.SOCK_STREAM {
		fa, err := parseSockaddr(so.family, to)
		if err != nil {
			return 0, err
		}
		opts.To = &fa
	}
	data := flatten(iov)
	nonblock := so.nonblocking(flags)
	_, snd := so.timeouts()
	sent := 0
	for {
		r := bytes.NewReader(data[sent:])
		var n int64
		err := so.retry(waiter.WritableEvents, nonblock, snd, func() tcpip.Error {
			var terr tcpip.Error
			n, terr = so.ep.Write(r, opts)
			return terr
		})
		sent += int(n)
		if err != nil {
			if sent > 0 && (err == syscall.EAGAIN || so.stype == syscall.SOCK_STREAM) {
				return sent, nil // report the partial write; the error comes next time
			}
			return sent, err
		}
		if so.stype != syscall.SOCK_STREAM || sent == len(data) || nonblock {
			return sent, nil
		}
	}
}

// recv reads into the scattered iovec. End of stream is (0, nil).
func (so *Socket) recv(iov [][]byte, flags int, wantAddr bool) (int, []byte, int, error) {
	total := 0
	for _, b := range iov {
		total += len(b)
	}
	if total == 0 && so.stype == syscall.SOCK_STREAM {
		return 0, nil, 0, nil
	}
	opts := tcpip.ReadOptions{Peek: flags&MSG_PEEK != 0, NeedRemoteAddr: wantAddr && so.stype != syscall.SOCK_STREAM}
	nonblock := so.nonblocking(flags)
	rcv, _ := so.timeouts()
	var (
		got  int
		from []byte
		mf   int
	)
	for {
		w := newIovecWriter(iov, got)
		var res tcpip.ReadResult
		err := so.retry(waiter.ReadableEvents, nonblock || got > 0, rcv, func() tcpip.Error {
			var terr tcpip.Error
			res, terr = so.ep.Read(w, opts)
			if _, ok := terr.(*tcpip.ErrClosedForReceive); ok {
				return nil // end of stream: a 0-byte read
			}
			return terr
		})
		if err != nil {
			if got > 0 {
				return got, from, mf, nil
			}
			return 0, nil, 0, err
		}
		if opts.NeedRemoteAddr {
			from = encodeSockaddr(so.family, res.RemoteAddr)
		}
		if so.stype != syscall.SOCK_STREAM {
			n := res.Count
			if res.Total > res.Count {
				mf |= MSG_TRUNC
				if flags&MSG_TRUNC != 0 {
					n = res.Total // Linux: report the real length
				}
			}
			return n, from, mf, nil
		}
		got += res.Count
		// MSG_WAITALL keeps reading a stream until the buffer is full
		// or the stream ends.
		if flags&MSG_WAITALL == 0 || got == total || res.Count == 0 || opts.Peek {
			return got, from, mf, nil
		}
	}
}

func flatten(iov [][]byte) []byte {
	if len(iov) == 1 {
		return iov[0]
	}
	var b []byte
	for _, v := range iov {
		b = append(b, v...)
	}
	return b
}

// iovecWriter is an io.Writer that scatters into an iovec: vector i,
// offset off is where the next byte goes. When it is full it reports a
// short write, which netstack takes as "stop here" (and, for datagrams, as
// truncation).
type iovecWriter struct {
	iov [][]byte
	i   int
	off int
}

func newIovecWriter(iov [][]byte, skip int) *iovecWriter {
	w := &iovecWriter{iov: iov}
	for w.i < len(iov) && skip >= len(iov[w.i]) {
		skip -= len(iov[w.i])
		w.i++
	}
	w.off = skip
	return w
}

func (w *iovecWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && w.i < len(w.iov) {
		c := copy(w.iov[w.i][w.off:], p)
		p, n, w.off = p[c:], n+c, w.off+c
		if w.off == len(w.iov[w.i]) {
			w.i, w.off = w.i+1, 0
		}
	}
	if len(p) > 0 {
		return n, io.ErrShortWrite
	}
	return n, nil
}

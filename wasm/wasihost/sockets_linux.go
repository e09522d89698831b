package wasihost

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"golang.org/x/sys/unix"
)

// socketFDBase is the first guest descriptor number used for host sockets.
// wazero's own descriptor table (stdio, preopened directories, open files)
// counts up from 0 and will not get near it, and Go's wasip1 runtime only
// probes for preopens upward from 3 until the first gap.
const socketFDBase = 1 << 20

// WASI constants used by the socket functions.
const (
	filetypeSocketStream = 6
	fdflagNonblock       = 4
	sdflagRD             = 1
	sdflagWR             = 2
	recvPeek             = 1
	rightsAll            = 0x1fffffff
)

// socket is a host TCP socket visible to the guest. The host descriptor is
// always non-blocking; nonblock is the mode the guest asked for, and a guest
// blocking call waits in poll(2) instead of spinning.
type socket struct {
	hostFD   int
	nonblock bool
	listener bool
}

// sockTable maps guest descriptors to host sockets. Host functions run on
// the guest's single thread, but Close and Addrs may come from others.
type sockTable struct {
	mu     sync.Mutex
	next   uint32
	m      map[uint32]*socket
	wake   [2]int // a pipe whose read end becomes readable when the run ends
	closed bool
}

func newSockTable() (*sockTable, error) {
	t := &sockTable{next: socketFDBase, m: map[uint32]*socket{}}
	if err := unix.Pipe2(t.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *sockTable) add(s *socket) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	fd := t.next
	t.next++
	t.m[fd] = s
	return fd
}

func (t *sockTable) get(fd uint32) *socket {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[fd]
}

// listen opens a real TCP listener on addr and returns its guest descriptor
// and the address it is bound to (addr may use port 0).
func (t *sockTable) listen(addr string) (uint32, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	defer ln.Close()
	// Duplicate the descriptor out of Go's netpoller: from here on the guest
	// owns the socket and Stardust's poll_oneoff waits on it.
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	var fd int
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return 0, nil, err
	}
	if dupErr != nil {
		return 0, nil, fmt.Errorf("dup listener: %w", dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return 0, nil, err
	}
	return t.add(&socket{hostFD: fd, listener: true}), ln.Addr(), nil
}

// stop makes every wait in the guest return (the run is over).
func (t *sockTable) stop() { unix.Write(t.wake[1], []byte{0}) }

// closeAll closes every socket and the wake pipe; it may be called twice.
func (t *sockTable) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	for fd, s := range t.m {
		unix.Close(s.hostFD)
		delete(t.m, fd)
	}
	unix.Close(t.wake[0])
	unix.Close(t.wake[1])
}

// wait blocks until hostFD has one of events or the run stops; it reports
// false when the run stopped.
func (t *sockTable) wait(hostFD int, events int16) bool {
	fds := []unix.PollFd{{Fd: int32(hostFD), Events: events}, {Fd: int32(t.wake[0]), Events: unix.POLLIN}}
	for {
		_, err := unix.Ppoll(fds, nil, nil)
		if err == unix.EINTR {
			continue
		}
		return fds[1].Revents == 0
	}
}

// iovecs returns views of guest memory for an iovec array.
func iovecs(mem api.Memory, iovs, n uint32) ([][]byte, bool) {
	raw, ok := mem.Read(iovs, n*8)
	if !ok {
		return nil, false
	}
	bufs := make([][]byte, 0, n)
	for i := uint32(0); i < n; i++ {
		off := binary.LittleEndian.Uint32(raw[i*8:])
		size := binary.LittleEndian.Uint32(raw[i*8+4:])
		b, ok := mem.Read(off, size)
		if !ok {
			return nil, false
		}
		bufs = append(bufs, b)
	}
	return bufs, true
}

// retry runs op until it does not fail with EAGAIN/EINTR, waiting for
// events when the guest descriptor is in blocking mode.
func (t *sockTable) retry(s *socket, events int16, op func() (int, error)) (int, uint64) {
	for {
		n, err := op()
		switch {
		case err == nil:
			return n, errnoSuccess
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && !s.nonblock:
			if !t.wait(s.hostFD, events) {
				return 0, errnoIntr
			}
			continue
		}
		return 0, toErrno(err)
	}
}

// The methods below implement WASI functions for descriptors in the table;
// stack holds the parameters and receives the errno, as in wazero.

func (t *sockTable) fdRead(mod api.Module, s *socket, stack []uint64) {
	t.transfer(mod, s, stack, 3, unix.POLLIN, unix.Readv)
}

func (t *sockTable) fdWrite(mod api.Module, s *socket, stack []uint64) {
	t.transfer(mod, s, stack, 3, unix.POLLOUT, unix.Writev)
}

// transfer runs io (readv or writev) on the socket with the guest's
// iovecs at stack[1] (count stack[2]), waiting for events as the socket's
// blocking mode says, and stores the byte count at the address
// stack[countAt].
func (t *sockTable) transfer(mod api.Module, s *socket, stack []uint64, countAt int, events int16, io func(int, [][]byte) (int, error)) {
	mem := mod.Memory()
	bufs, ok := iovecs(mem, uint32(stack[1]), uint32(stack[2]))
	if !ok {
		stack[0] = errnoFault
		return
	}
	n, errno := t.retry(s, events, func() (int, error) { return io(s.hostFD, bufs) })
	if errno == errnoSuccess && !mem.WriteUint32Le(uint32(stack[countAt]), uint32(n)) {
		errno = errnoFault
	}
	stack[0] = errno
}

func (t *sockTable) fdClose(fd uint32, s *socket, stack []uint64) {
	t.mu.Lock()
	delete(t.m, fd)
	t.mu.Unlock()
	stack[0] = toErrno(unix.Close(s.hostFD))
}

func (t *sockTable) fdFdstatGet(mod api.Module, s *socket, stack []uint64) {
	var st [24]byte
	st[0] = filetypeSocketStream
	if s.nonblock {
		binary.LittleEndian.PutUint16(st[2:], fdflagNonblock)
	}
	binary.LittleEndian.PutUint64(st[8:], rightsAll)
	binary.LittleEndian.PutUint64(st[16:], rightsAll)
	if !mod.Memory().Write(uint32(stack[1]), st[:]) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

func (t *sockTable) fdFdstatSetFlags(s *socket, stack []uint64) {
	// Only the non-blocking flag means anything for a socket.
	s.nonblock = uint32(stack[1])&fdflagNonblock != 0
	stack[0] = errnoSuccess
}

func (t *sockTable) fdFilestatGet(mod api.Module, s *socket, stack []uint64) {
	var st [64]byte
	st[16] = filetypeSocketStream
	if !mod.Memory().Write(uint32(stack[1]), st[:]) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

func (t *sockTable) sockAccept(mod api.Module, s *socket, stack []uint64) {
	if !s.listener {
		stack[0] = errnoInval
		return
	}
	nfd, errno := t.retry(s, unix.POLLIN, func() (int, error) {
		fd, _, err := unix.Accept4(s.hostFD, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return fd, err
	})
	if errno != errnoSuccess {
		stack[0] = errno
		return
	}
	// Small HTTP responses should not wait for Nagle's algorithm.
	unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	gfd := t.add(&socket{hostFD: nfd, nonblock: uint32(stack[1])&fdflagNonblock != 0})
	if !mod.Memory().WriteUint32Le(uint32(stack[2]), gfd) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

func (t *sockTable) sockRecv(mod api.Module, s *socket, stack []uint64) {
	mem := mod.Memory()
	bufs, ok := iovecs(mem, uint32(stack[1]), uint32(stack[2]))
	if !ok {
		stack[0] = errnoFault
		return
	}
	peek := uint32(stack[3])&recvPeek != 0
	n, errno := t.retry(s, unix.POLLIN, func() (int, error) {
		if peek && len(bufs) > 0 {
			n, _, err := unix.Recvfrom(s.hostFD, bufs[0], unix.MSG_PEEK)
			return n, err
		}
		return unix.Readv(s.hostFD, bufs)
	})
	if errno == errnoSuccess && (!mem.WriteUint32Le(uint32(stack[4]), uint32(n)) || !mem.WriteUint16Le(uint32(stack[5]), 0)) {
		errno = errnoFault
	}
	stack[0] = errno
}

func (t *sockTable) sockSend(mod api.Module, s *socket, stack []uint64) {
	t.transfer(mod, s, stack, 4, unix.POLLOUT, unix.Writev) // stack[3]: si_flags, none defined
}

func (t *sockTable) sockShutdown(s *socket, stack []uint64) {
	var how int
	switch uint32(stack[1]) {
	case sdflagRD:
		how = unix.SHUT_RD
	case sdflagWR:
		how = unix.SHUT_WR
	case sdflagRD | sdflagWR:
		how = unix.SHUT_RDWR
	default:
		stack[0] = errnoInval
		return
	}
	stack[0] = toErrno(unix.Shutdown(s.hostFD, how))
}

// overrides returns the WASI functions that must see host sockets, keyed by
// export name. Each is called with the descriptor already looked up; other
// descriptors go to wazero's implementation.
func (t *sockTable) overrides() map[string]func(ctx context.Context, mod api.Module, fd uint32, s *socket, stack []uint64) {
	type fn = func(ctx context.Context, mod api.Module, fd uint32, s *socket, stack []uint64)
	return map[string]fn{
		"fd_read":             func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.fdRead(m, s, st) },
		"fd_write":            func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.fdWrite(m, s, st) },
		"fd_close":            func(_ context.Context, _ api.Module, fd uint32, s *socket, st []uint64) { t.fdClose(fd, s, st) },
		"fd_fdstat_get":       func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.fdFdstatGet(m, s, st) },
		"fd_fdstat_set_flags": func(_ context.Context, _ api.Module, _ uint32, s *socket, st []uint64) { t.fdFdstatSetFlags(s, st) },
		"fd_filestat_get":     func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.fdFilestatGet(m, s, st) },
		"sock_accept":         func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.sockAccept(m, s, st) },
		"sock_recv":           func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.sockRecv(m, s, st) },
		"sock_send":           func(_ context.Context, m api.Module, _ uint32, s *socket, st []uint64) { t.sockSend(m, s, st) },
		"sock_shutdown":       func(_ context.Context, _ api.Module, _ uint32, s *socket, st []uint64) { t.sockShutdown(s, st) },
	}
}

package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
)

// Socket system calls. Sockets are service-context objects (gVisor's
// netstack); these handlers check the arguments, then forward.

const (
	sockNonblock = 0x800
	sockCloexec  = 0x80000
	maxSockaddr  = 128
)

// socketFD returns the entry of a socket descriptor, or the errno.
//
//go:nosplit
func socketFD(fd uint64) (*fdEntry, uintptr) {
	e, ok := getFD(fd)
	if !ok {
		return nil, errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return nil, errno(syscall.ENOTSOCK)
	}
	return e, 0
}

// addrOut checks an (addr, *addrlen) result pair; both may be NULL.
//
//go:nosplit
func addrOut(addr, lenp uintptr) bool {
	if addr == 0 {
		return true
	}
	b, ok := userBytes(lenp, 4, true)
	if !ok {
		return false
	}
	n := *(*uint32)(unsafe.Pointer(&b[0]))
	if n > 1<<16 {
		return false
	}
	_, ok = userBytes(addr, uintptr(n), true)
	return ok
}

// socket(domain, type, protocol) hands out a socket the service created
// in advance (see package bridge for why it cannot wait for one) and asks
// for a replacement.
//
//go:nosplit
func sysSocket(f *amd64.Frame) uintptr {
	typ := f.RSI
	k, e := bridge.PoolKind(f.RDI, typ, f.RDX)
	if k < 0 {
		return errno(e)
	}
	if typ&^(0xF|sockNonblock|sockCloexec) != 0 {
		return errno(syscall.EINVAL)
	}
	queueAsync(bridge.OpRefill, -1, uint64(k))
	if poolN[k] == 0 {
		// No network stack in this image, or a burst of socket calls
		// faster than the service refills: Linux's "no buffer space".
		return errno(syscall.ENOBUFS)
	}
	poolN[k]--
	h := pool[k][poolN[k]]
	return installHandle(uintptr(h)|pollableBit, typ&sockCloexec != 0, int32(oRdwr|typ&sockNonblock))
}

//go:nosplit
func sysBind(f *amd64.Frame) uintptr { return sockaddrIn(bridge.OpBind, f) }

//go:nosplit
func sysConnect(f *amd64.Frame) uintptr { return sockaddrIn(bridge.OpConnect, f) }

//go:nosplit
func sockaddrIn(op int32, f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if f.RDX > maxSockaddr {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(uintptr(f.RSI), uintptr(f.RDX), false); !ok {
		return errno(syscall.EFAULT)
	}
	return forwardFD(op, e, f.RDI, f.RSI, f.RDX, 0, 0, 0)
}

//go:nosplit
func sysListen(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	return forwardFD(bridge.OpListen, e, f.RDI, f.RSI, 0, 0, 0, 0)
}

//go:nosplit
func sysShutdown(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	return forwardFD(bridge.OpShutdown, e, f.RDI, f.RSI, 0, 0, 0, 0)
}

// accept4(fd, addr, addrlen, flags); accept is accept4 with flags 0.
//
//go:nosplit
func sysAccept4(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	flags := f.R10
	if flags&^(sockNonblock|sockCloexec) != 0 {
		return errno(syscall.EINVAL)
	}
	if !addrOut(uintptr(f.RSI), uintptr(f.RDX)) {
		return errno(syscall.EFAULT)
	}
	r := forwardFD(bridge.OpAccept, e, f.RDI, f.RSI, f.RDX, flags, 0, 0)
	return installHandle(r, flags&sockCloexec != 0, int32(oRdwr|flags&sockNonblock))
}

//go:nosplit
func sysAccept(f *amd64.Frame) uintptr {
	f.R10 = 0
	return sysAccept4(f)
}

// getsockname and getpeername answer from the addresses the service keeps
// current (see package bridge for why they cannot wait for it).
//
//go:nosplit
func sysGetsockname(f *amd64.Frame) uintptr { return sockaddrOut(0, f) }

//go:nosplit
func sysGetpeername(f *amd64.Frame) uintptr { return sockaddrOut(1, f) }

//go:nosplit
func sockaddrOut(which int, f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if f.RSI == 0 || !addrOut(uintptr(f.RSI), uintptr(f.RDX)) {
		return errno(syscall.EFAULT)
	}
	a := &addrs[e.obj][which]
	if a.n == 0 {
		if which == 1 {
			return errno(syscall.ENOTCONN)
		}
		// Unbound: Linux reports the family's wildcard address; the
		// service records it when the socket is created.
		return errno(syscall.EINVAL)
	}
	lenp := (*uint32)(unsafe.Pointer(uintptr(f.RDX)))
	out := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(f.RSI))), *lenp)
	copy(out, a.b[:a.n])
	*lenp = uint32(a.n)
	return 0
}

// setsockopt(fd, level, name, val, len)
//
//go:nosplit
func sysSetsockopt(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if f.R8 > 4096 {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(uintptr(f.R10), uintptr(f.R8), false); !ok {
		return errno(syscall.EFAULT)
	}
	return forwardFD(bridge.OpSetOpt, e, f.RDI, f.RSI, f.RDX, f.R10, f.R8, 0)
}

// getsockopt(fd, level, name, val, lenp)
//
//go:nosplit
func sysGetsockopt(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if !addrOut(uintptr(f.R10), uintptr(f.R8)) || f.R10 == 0 {
		return errno(syscall.EFAULT)
	}
	return forwardFD(bridge.OpGetOpt, e, f.RDI, f.RSI, f.RDX, f.R10, f.R8, 0)
}

// sendto(fd, buf, len, flags, addr, addrlen)
//
//go:nosplit
func sysSendto(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if _, ok := userBytes(uintptr(f.RSI), uintptr(f.RDX), false); !ok {
		return errno(syscall.EFAULT)
	}
	if f.R9 > maxSockaddr {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(uintptr(f.R8), uintptr(f.R9), false); !ok {
		return errno(syscall.EFAULT)
	}
	return forwardFD(bridge.OpSendTo, e, f.RDI, f.RSI, f.RDX, f.R10, f.R8, f.R9)
}

// recvfrom(fd, buf, len, flags, addr, addrlen)
//
//go:nosplit
func sysRecvfrom(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if _, ok := userBytes(uintptr(f.RSI), uintptr(f.RDX), true); !ok {
		return errno(syscall.EFAULT)
	}
	if !addrOut(uintptr(f.R8), uintptr(f.R9)) {
		return errno(syscall.EFAULT)
	}
	if wouldBlock(e, f.R10) {
		return errno(syscall.EAGAIN)
	}
	return forwardFD(bridge.OpRecvFrom, e, f.RDI, f.RSI, f.RDX, f.R10, f.R8, f.R9)
}

// checkMsghdr checks a struct msghdr and everything it points to.
// Layout: name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48.
//
//go:nosplit
func checkMsghdr(msg uintptr, write bool) bool {
	b, ok := userBytes(msg, 56, true)
	if !ok {
		return false
	}
	name := *(*uintptr)(unsafe.Pointer(&b[0]))
	namelen := *(*uint32)(unsafe.Pointer(&b[8]))
	iov := *(*uintptr)(unsafe.Pointer(&b[16]))
	iovlen := *(*uintptr)(unsafe.Pointer(&b[24]))
	if namelen > maxSockaddr || iovlen > 1024 {
		return false
	}
	if _, ok := userBytes(name, uintptr(namelen), write); name != 0 && !ok {
		return false
	}
	v, ok := userBytes(iov, iovlen*16, false)
	if !ok {
		return false
	}
	for i := uintptr(0); i < iovlen; i++ {
		base := *(*uintptr)(unsafe.Pointer(&v[i*16]))
		n := *(*uintptr)(unsafe.Pointer(&v[i*16+8]))
		if _, ok := userBytes(base, n, write); !ok {
			return false
		}
	}
	return true
}

//go:nosplit
func sysSendmsg(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if !checkMsghdr(uintptr(f.RSI), false) {
		return errno(syscall.EFAULT)
	}
	return forwardFD(bridge.OpSendMsg, e, f.RDI, f.RSI, f.RDX, 0, 0, 0)
}

//go:nosplit
func sysRecvmsg(f *amd64.Frame) uintptr {
	e, err := socketFD(f.RDI)
	if e == nil {
		return err
	}
	if !checkMsghdr(uintptr(f.RSI), true) {
		return errno(syscall.EFAULT)
	}
	if wouldBlock(e, f.RDX) {
		return errno(syscall.EAGAIN)
	}
	return forwardFD(bridge.OpRecvMsg, e, f.RDI, f.RSI, f.RDX, 0, 0, 0)
}

package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/drivers/uart"
	"github.com/stardust-go/stardust/kernel/rand"
)

// File-descriptor system calls over the descriptors the kernel has today:
// the console (fds 0-2), eventfds and epoll instances. Opening files is
// answered ENOENT until the VFS is wired in: there are no files.

//go:nosplit
func fdRead(fd int, e *fdEntry, buf, n uintptr) uintptr {
	switch e.kind {
	case fdConsoleIn:
		return 0 // end of file: the console has no input yet
	case fdEventfd:
		return eventfdRead(fd, e, buf, n)
	case fdService:
		if _, ok := userBytes(buf, n, true); !ok {
			return errno(syscall.EFAULT)
		}
		if wouldBlock(e, 0) {
			return errno(syscall.EAGAIN)
		}
		return forwardFD(bridge.OpRead, e, uint64(fd), uint64(buf), uint64(n), 0, 0, 0)
	}
	return errno(syscall.EINVAL)
}

// wouldBlock reports whether a non-blocking read of service description e
// would fail with EAGAIN, judging by the readiness the service last pushed
// (SysReady): then the kernel answers without forwarding. Go's netpoller
// reads until EAGAIN, so about every other read of a busy server's
// sockets was a forwarded call that found nothing. The answer is sound
// for edge-triggered epoll: the service pushes readiness after every
// change, so data that arrived after the last push brings a push (an
// edge) of its own, and the reader tries again.
//
//go:nosplit
func wouldBlock(e *fdEntry, msgFlags uint64) bool {
	if e.kind != fdService || !svcPollable[e.obj] || msgFlags&syscall.MSG_ERRQUEUE != 0 {
		return false
	}
	if e.flags&oNonblock == 0 && msgFlags&syscall.MSG_DONTWAIT == 0 {
		return false
	}
	return svcReady[e.obj]&(epollIn|epollPri|epollErr|epollHup|epollRdhup) == 0
}

//go:nosplit
func fdWrite(fd int, e *fdEntry, buf, n uintptr) uintptr {
	switch e.kind {
	case fdConsoleOut, fdConsoleIn:
		b, ok := userBytes(buf, n, false)
		if !ok {
			return errno(syscall.EFAULT)
		}
		uart.Write(b)
		return n
	case fdEventfd:
		return eventfdWrite(fd, e, buf, n)
	case fdService:
		if _, ok := userBytes(buf, n, false); !ok {
			return errno(syscall.EFAULT)
		}
		return forwardFD(bridge.OpWrite, e, uint64(fd), uint64(buf), uint64(n), 0, 0, 0)
	}
	return errno(syscall.EINVAL)
}

//go:nosplit
func sysRead(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	return fdRead(int(f.RDI), e, uintptr(f.RSI), uintptr(f.RDX))
}

//go:nosplit
func sysWrite(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	return fdWrite(int(f.RDI), e, uintptr(f.RSI), uintptr(f.RDX))
}

// readv/writev(fd, iov, iovcnt): struct iovec is {base, len}.
//
//go:nosplit
func vectored(f *amd64.Frame, write bool) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	iov, cnt := uintptr(f.RSI), int(f.RDX)
	if cnt < 0 || cnt > 1024 {
		return errno(syscall.EINVAL)
	}
	v, ok := userBytes(iov, uintptr(cnt)*16, false)
	if !ok {
		return errno(syscall.EFAULT)
	}
	total := uintptr(0)
	for i := 0; i < cnt; i++ {
		base := *(*uintptr)(unsafe.Pointer(&v[i*16]))
		n := *(*uintptr)(unsafe.Pointer(&v[i*16+8]))
		if n == 0 {
			continue
		}
		var r uintptr
		if write {
			r = fdWrite(int(f.RDI), e, base, n)
		} else {
			r = fdRead(int(f.RDI), e, base, n)
		}
		if int64(r) < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		if r < n {
			break
		}
	}
	return total
}

//go:nosplit
func sysReadv(f *amd64.Frame) uintptr { return vectored(f, false) }

//go:nosplit
func sysWritev(f *amd64.Frame) uintptr { return vectored(f, true) }

//go:nosplit
func sysClose(f *amd64.Frame) uintptr { return closeFD(int(f.RDI)) }

const (
	fDupfd        = 0
	fGetfd        = 1
	fSetfd        = 2
	fGetfl        = 3
	fSetfl        = 4
	fDupfdCloexec = 1030
	fGetlk        = 5
	fSetlk        = 6
	fSetlkw       = 7
	fUnlck        = 2 // l_type of an unlocked range
)

//go:nosplit
func sysFcntl(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	switch f.RSI {
	case fGetfd:
		if e.cloexec {
			return 1
		}
		return 0
	case fSetfd:
		e.cloexec = f.RDX&1 != 0
		return 0
	case fGetfl:
		return uintptr(e.flags)
	case fSetfl:
		e.flags = e.flags&^oNonblock | int32(f.RDX)&oNonblock
		if e.kind == fdService {
			return forwardFD(bridge.OpSetFlags, e, uint64(e.flags), 0, 0, 0, 0, 0)
		}
		return 0
	case fGetlk, fSetlk, fSetlkw:
		// POSIX record locks belong to the process, and a process never
		// conflicts with itself: with one process, every lock is granted
		// and F_GETLK always finds the range free (see kernel/fs/vfs/flock.go).
		lk, ok := userBytes(uintptr(f.RDX), 32, f.RSI == fGetlk) // struct flock
		if !ok {
			return errno(syscall.EFAULT)
		}
		if f.RSI == fGetlk {
			lk[0], lk[1] = fUnlck, 0
		}
		return 0
	case fDupfd, fDupfdCloexec:
		nfd := allocFD(int(f.RDX))
		if nfd < 0 {
			return errno(syscall.EMFILE)
		}
		fds[nfd] = *e
		fds[nfd].cloexec = f.RSI == fDupfdCloexec
		return uintptr(nfd)
	}
	return errno(syscall.EINVAL)
}

//go:nosplit
func sysDup(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	nfd := allocFD(0)
	if nfd < 0 {
		return errno(syscall.EMFILE)
	}
	fds[nfd] = *e
	fds[nfd].cloexec = false
	return uintptr(nfd)
}

// dup3(old, new, flags); dup2 is dup3 without flags that allows old == new.
//
//go:nosplit
func sysDup3(f *amd64.Frame) uintptr {
	if f.RDI == f.RSI || f.RDX&^oCloexec != 0 {
		return errno(syscall.EINVAL)
	}
	return dupTo(f.RDI, f.RSI, f.RDX&oCloexec != 0)
}

//go:nosplit
func sysDup2(f *amd64.Frame) uintptr {
	if f.RDI == f.RSI {
		if _, ok := getFD(f.RDI); !ok {
			return errno(syscall.EBADF)
		}
		return uintptr(f.RSI)
	}
	return dupTo(f.RDI, f.RSI, false)
}

//go:nosplit
func dupTo(old, new uint64, cloexec bool) uintptr {
	e, ok := getFD(old)
	if !ok || new >= maxFDs {
		return errno(syscall.EBADF)
	}
	if fds[new].kind != fdFree {
		closeFD(int(new))
	}
	fds[new] = *e
	fds[new].cloexec = cloexec
	return uintptr(new)
}

// ioctl: the console is not a terminal as far as programs can tell.
//
//go:nosplit
func sysIoctl(f *amd64.Frame) uintptr {
	if _, ok := getFD(f.RDI); !ok {
		return errno(syscall.EBADF)
	}
	return errno(syscall.ENOTTY)
}

// fstat(fd, st): the console is a character device; eventfds and epolls
// are anonymous inodes.
//
//go:nosplit
func sysFstat(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	b, ok := userBytes(uintptr(f.RSI), unsafe.Sizeof(syscall.Stat_t{}), true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	if e.kind == fdService {
		return forwardFD(bridge.OpFstat, e, f.RDI, f.RSI, 0, 0, 0, 0)
	}
	st := (*syscall.Stat_t)(unsafe.Pointer(&b[0]))
	*st = syscall.Stat_t{Nlink: 1, Blksize: 4096, Ino: uint64(f.RDI) + 1}
	switch e.kind {
	case fdConsoleIn, fdConsoleOut:
		st.Mode = syscall.S_IFCHR | 0620
		st.Rdev = 4<<8 | 64 // ttyS0
	default:
		st.Mode = 0600
	}
	return 0
}

//go:nosplit
func sysLseek(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind == fdService {
		return forwardFD(bridge.OpLseek, e, f.RDI, f.RSI, f.RDX, 0, 0, 0)
	}
	return errno(syscall.ESPIPE)
}

//go:nosplit
func sysPread(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind == fdService {
		if _, ok := userBytes(uintptr(f.RSI), uintptr(f.RDX), true); !ok {
			return errno(syscall.EFAULT)
		}
		return forwardFD(bridge.OpPread, e, f.RDI, f.RSI, f.RDX, f.R10, 0, 0)
	}
	return errno(syscall.ESPIPE)
}

//go:nosplit
func sysPwrite(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind == fdService {
		if _, ok := userBytes(uintptr(f.RSI), uintptr(f.RDX), false); !ok {
			return errno(syscall.EFAULT)
		}
		return forwardFD(bridge.OpPwrite, e, f.RDI, f.RSI, f.RDX, f.R10, 0, 0)
	}
	return errno(syscall.ESPIPE)
}

// getrandom(buf, len, flags): never blocks; the generator is seeded at boot.
//
//go:nosplit
func sysGetrandom(f *amd64.Frame) uintptr {
	n := uintptr(f.RSI)
	if n > 1<<25 {
		n = 1 << 25
	}
	b, ok := userBytes(uintptr(f.RDI), n, true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	rand.Read(b)
	return n
}

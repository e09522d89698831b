package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/sched"
)

// epoll and eventfd live in trap context: Go's netpoller blocks in
// epoll_pwait and is woken through an eventfd, so both are on the path of
// every timer and every goroutine wake-up, and must not wait for a service
// goroutine (which may need the very thread that is blocked).

const (
	epollIn      = 0x001
	epollPri     = 0x002
	epollOut     = 0x004
	epollErr     = 0x008
	epollHup     = 0x010
	epollRdhup   = 0x2000
	epollOneshot = 1 << 30
	epollET      = 1 << 31

	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3

	eventfdMax       = 0xFFFFFFFFFFFFFFFE
	efdSemaphore     = 1
	maxEventfds      = 64
	maxEpolls        = 8
	maxEpollInterest = 1024
)

type eventfd struct {
	used      bool
	semaphore bool
	count     uint64
}

var eventfds [maxEventfds]eventfd

type interest struct {
	fd      int32 // -1 = free slot
	events  uint32
	data    uint64
	seenGen uint32
	armed   bool // false after a one-shot event fired
}

type epollInstance struct {
	used      bool
	n         int // slots in use (high-water mark)
	interests [maxEpollInterest]interest
}

var epolls [maxEpolls]epollInstance

// epollWaitKey is the wait key of threads blocked in epoll_pwait; a kernel
// address, so it never collides with a futex key.
const epollWaitKey = 0xFFFF_FFFF_FFFF_E000

//go:nosplit
func wakeEpollWaiters() { sched.WakeKey(epollWaitKey, sched.MaxThreads) }

// eventfd2(initval, flags)
//
//go:nosplit
func sysEventfd2(f *amd64.Frame) uintptr {
	initval, flags := f.RDI, f.RSI
	if flags&^(oNonblock|oCloexec|efdSemaphore) != 0 {
		return errno(syscall.EINVAL)
	}
	idx := -1
	for i := range eventfds {
		if !eventfds[i].used {
			idx = i
			break
		}
	}
	fd := allocFD(0)
	if idx < 0 || fd < 0 {
		return errno(syscall.EMFILE)
	}
	eventfds[idx] = eventfd{used: true, semaphore: flags&efdSemaphore != 0, count: uint64(uint32(initval))}
	fds[fd] = fdEntry{kind: fdEventfd, obj: int32(idx), cloexec: flags&oCloexec != 0, flags: int32(oRdwr | flags&oNonblock)}
	return uintptr(fd)
}

//go:nosplit
func eventfdRead(fd int, e *fdEntry, buf uintptr, n uintptr) uintptr {
	if n < 8 {
		return errno(syscall.EINVAL)
	}
	ev := &eventfds[e.obj]
	for ev.count == 0 {
		if e.flags&oNonblock != 0 {
			return errno(syscall.EAGAIN)
		}
		if sched.Block(uintptr(unsafe.Pointer(ev)), 0, true) == sched.WokenSignal {
			return errno(syscall.EINTR)
		}
	}
	v := ev.count
	if ev.semaphore {
		v = 1
	}
	if !writeU64(buf, v) {
		return errno(syscall.EFAULT)
	}
	ev.count -= v
	becameReady(fd) // writable again
	sched.WakeKey(uintptr(unsafe.Pointer(ev)), sched.MaxThreads)
	return 8
}

//go:nosplit
func eventfdWrite(fd int, e *fdEntry, buf uintptr, n uintptr) uintptr {
	if n < 8 {
		return errno(syscall.EINVAL)
	}
	v, ok := readU64(buf)
	if !ok {
		return errno(syscall.EFAULT)
	}
	if v == 0xFFFFFFFFFFFFFFFF {
		return errno(syscall.EINVAL)
	}
	ev := &eventfds[e.obj]
	for ev.count+v > eventfdMax || ev.count+v < ev.count {
		if e.flags&oNonblock != 0 {
			return errno(syscall.EAGAIN)
		}
		if sched.Block(uintptr(unsafe.Pointer(ev)), 0, true) == sched.WokenSignal {
			return errno(syscall.EINTR)
		}
	}
	ev.count += v
	becameReady(fd)
	sched.WakeKey(uintptr(unsafe.Pointer(ev)), sched.MaxThreads)
	return 8
}

// epoll_create1(flags)
//
//go:nosplit
func sysEpollCreate1(f *amd64.Frame) uintptr {
	if f.RDI&^oCloexec != 0 {
		return errno(syscall.EINVAL)
	}
	return epollCreate(f.RDI&oCloexec != 0)
}

// epoll_create(size): size is ignored but must be positive.
//
//go:nosplit
func sysEpollCreate(f *amd64.Frame) uintptr {
	if int32(f.RDI) <= 0 {
		return errno(syscall.EINVAL)
	}
	return epollCreate(false)
}

//go:nosplit
func epollCreate(cloexec bool) uintptr {
	idx := -1
	for i := range epolls {
		if !epolls[i].used {
			idx = i
			break
		}
	}
	fd := allocFD(0)
	if idx < 0 || fd < 0 {
		return errno(syscall.EMFILE)
	}
	ep := &epolls[idx]
	ep.used = true
	ep.n = 0
	fds[fd] = fdEntry{kind: fdEpoll, obj: int32(idx), cloexec: cloexec, flags: oRdwr}
	return uintptr(fd)
}

// epoll_ctl(epfd, op, fd, event)
//
//go:nosplit
func sysEpollCtl(f *amd64.Frame) uintptr {
	epfd, op, fd, evp := f.RDI, f.RSI, int(int32(f.RDX)), uintptr(f.R10)
	e, ok := getFD(epfd)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdEpoll {
		return errno(syscall.EINVAL)
	}
	t, ok := getFD(uint64(fd))
	if !ok {
		return errno(syscall.EBADF)
	}
	if uint64(fd) == epfd {
		return errno(syscall.EINVAL)
	}
	if !pollable(t) {
		return errno(syscall.EPERM)
	}
	var events uint32
	var data uint64
	if op != epollCtlDel {
		b, ok := userBytes(evp, 12, false)
		if !ok {
			return errno(syscall.EFAULT)
		}
		events = *(*uint32)(unsafe.Pointer(&b[0]))
		data = *(*uint64)(unsafe.Pointer(&b[4])) // struct epoll_event is packed on x86-64
	}
	ep := &epolls[e.obj]
	slot := -1
	for i := 0; i < ep.n; i++ {
		if ep.interests[i].fd == int32(fd) {
			slot = i
			break
		}
	}
	switch op {
	case epollCtlAdd:
		if slot >= 0 {
			return errno(syscall.EEXIST)
		}
		for i := 0; i < ep.n; i++ {
			if ep.interests[i].fd < 0 {
				slot = i
				break
			}
		}
		if slot < 0 {
			if ep.n == maxEpollInterest {
				return errno(syscall.ENOSPC)
			}
			slot = ep.n
			ep.n++
		}
		// seenGen one behind: an edge-triggered watch reports what is
		// ready now once, as Linux does right after EPOLL_CTL_ADD.
		ep.interests[slot] = interest{fd: int32(fd), events: events, data: data, seenGen: generation(t) - 1, armed: true}
	case epollCtlMod:
		if slot < 0 {
			return errno(syscall.ENOENT)
		}
		in := &ep.interests[slot]
		in.events, in.data, in.armed, in.seenGen = events, data, true, generation(t)-1
	case epollCtlDel:
		if slot < 0 {
			return errno(syscall.ENOENT)
		}
		ep.interests[slot].fd = -1
	default:
		return errno(syscall.EINVAL)
	}
	wakeEpollWaiters()
	return 0
}

//go:nosplit
func pollable(e *fdEntry) bool {
	switch e.kind {
	case fdEventfd, fdConsoleIn, fdConsoleOut, fdEpoll:
		return true
	case fdService:
		return svcPollable[e.obj]
	}
	return false
}

// epollForget drops fd from every interest list when it is closed.
//
//go:nosplit
func epollForget(fd int) {
	for i := range epolls {
		ep := &epolls[i]
		if !ep.used {
			continue
		}
		for j := 0; j < ep.n; j++ {
			if ep.interests[j].fd == int32(fd) {
				ep.interests[j].fd = -1
			}
		}
	}
}

// collect writes up to max ready events to out and returns how many.
//
//go:nosplit
func (ep *epollInstance) collect(out uintptr, max int) int {
	n := 0
	for i := 0; i < ep.n && n < max; i++ {
		in := &ep.interests[i]
		if in.fd < 0 || !in.armed {
			continue
		}
		e := &fds[in.fd]
		ready := readiness(e) & (in.events | epollErr | epollHup)
		if ready == 0 {
			continue
		}
		if in.events&epollET != 0 {
			g := generation(e)
			if in.seenGen == g {
				continue
			}
			in.seenGen = g
		}
		if in.events&epollOneshot != 0 {
			in.armed = false
		}
		p := out + uintptr(n)*12
		*(*uint32)(unsafe.Pointer(p)) = ready
		*(*uint64)(unsafe.Pointer(p + 4)) = in.data
		n++
	}
	return n
}

// epoll_pwait(epfd, events, maxevents, timeout_ms, sigmask, sigsetsize)
//
//go:nosplit
func sysEpollPwait(f *amd64.Frame) uintptr {
	epfd, out, max, timeout := f.RDI, uintptr(f.RSI), int(int32(f.RDX)), int64(int32(f.R10))
	e, ok := getFD(epfd)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdEpoll || max <= 0 || max > 1<<20 {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(out, uintptr(max)*12, true); !ok {
		return errno(syscall.EFAULT)
	}
	ep := &epolls[e.obj]
	deadline := int64(0)
	if timeout > 0 {
		deadline = clock.Nanotime() + timeout*1_000_000
	}
	for {
		if n := ep.collect(out, max); n > 0 {
			return uintptr(n)
		}
		if timeout == 0 {
			return 0
		}
		switch sched.Block(epollWaitKey, deadline, true) {
		case sched.WokenTimeout:
			return 0
		case sched.WokenSignal:
			return errno(syscall.EINTR)
		}
	}
}

package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/bridge"
)

// The file-descriptor table. Descriptors the kernel implements itself in
// trap context (the console, eventfds, epoll instances) live here whole;
// files and sockets, which are service-context objects, are referenced by a
// handle.

const maxFDs = 1024

// Kinds of descriptor.
const (
	fdFree = iota
	fdConsoleIn
	fdConsoleOut
	fdEventfd
	fdEpoll
	fdService // a description in service context (socket, file); obj is its handle
)

type fdEntry struct {
	kind    uint8
	cloexec bool
	flags   int32  // O_NONBLOCK, O_RDWR, ...: what F_GETFL reports
	obj     int32  // index into the kind's table
	gen     uint32 // bumped when the descriptor becomes more ready (for EPOLLET)
}

var fds [maxFDs]fdEntry

const (
	oRdonly   = 0
	oWronly   = 1
	oRdwr     = 2
	oNonblock = 0x800
	oCloexec  = 0x80000
)

// initFDs opens standard input, output and error on the console.
//
//go:nosplit
func initFDs() {
	fds[0] = fdEntry{kind: fdConsoleIn, flags: oRdwr}
	fds[1] = fdEntry{kind: fdConsoleOut, flags: oRdwr}
	fds[2] = fdEntry{kind: fdConsoleOut, flags: oRdwr}
}

// allocFD returns the lowest free descriptor >= min, or -1.
//
//go:nosplit
func allocFD(min int) int {
	for i := min; i < maxFDs; i++ {
		if fds[i].kind == fdFree {
			return i
		}
	}
	return -1
}

//go:nosplit
func getFD(fd uint64) (*fdEntry, bool) {
	if fd >= maxFDs || fds[fd].kind == fdFree {
		return nil, false
	}
	return &fds[fd], true
}

// closeFD releases fd and, when it was the last reference, its object.
//
//go:nosplit
func closeFD(fd int) uintptr {
	e, ok := getFD(uint64(fd))
	if !ok {
		return errno(syscall.EBADF)
	}
	kind, obj := e.kind, e.obj
	*e = fdEntry{}
	if !objectReferenced(kind, obj) {
		switch kind {
		case fdEventfd:
			eventfds[obj].used = false
		case fdEpoll:
			epolls[obj].used = false
		case fdService:
			epollForget(fd)
			return forward(bridge.OpClose, obj, 0, 0, 0, 0, 0, 0, 0)
		}
	}
	epollForget(fd)
	return 0
}

//go:nosplit
func objectReferenced(kind uint8, obj int32) bool {
	for i := range fds {
		if fds[i].kind == kind && fds[i].obj == obj {
			return true
		}
	}
	return false
}

// readiness returns the epoll bits that hold for descriptor e now.
//
//go:nosplit
func readiness(e *fdEntry) uint32 {
	switch e.kind {
	case fdConsoleOut:
		return epollOut
	case fdConsoleIn:
		return 0
	case fdService:
		return svcReady[e.obj]
	case fdEventfd:
		ev := &eventfds[e.obj]
		r := uint32(0)
		if ev.count > 0 {
			r |= epollIn
		}
		if ev.count < eventfdMax {
			r |= epollOut
		}
		return r
	}
	return 0
}

// generation returns a counter that grows whenever e becomes more ready.
//
//go:nosplit
func generation(e *fdEntry) uint32 {
	if e.kind == fdService {
		return svcGen[e.obj]
	}
	return e.gen
}

// becameReady records that fd may be more ready than before and wakes
// epoll waiters.
//
//go:nosplit
func becameReady(fd int) {
	fds[fd].gen++
	wakeEpollWaiters()
}

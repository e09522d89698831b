package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/sched"
)

// The trap-context half of forwarded system calls (see package bridge).
// A thread making a call that service-context code must answer (sockets,
// files) fills its request slot, queues it, wakes a service goroutine
// blocked in SysWait and blocks until SysDone. The service goroutine runs
// in the program and reads or writes the caller's buffers directly: there
// is one address space, and every pointer was checked here first.

type requestSlot struct {
	req    bridge.Request
	result int64
	seq    uint64 // readySeq when the service took the request
	state  uint8
}

const (
	slotIdle = iota
	slotQueued
	slotTaken
	slotDone
)

var (
	requests     [sched.MaxThreads]requestSlot
	queue        [sched.MaxThreads]int32
	qhead, qtail int
	serviceUp    bool // the server started (SysServe): forward from now on

	// Readiness of service-side descriptions, pushed by SysReady.
	svcReady    [bridge.MaxHandles]uint32
	svcGen      [bridge.MaxHandles]uint32
	svcPollable [bridge.MaxHandles]bool
	// readySeq counts SysReady reports; svcReadySeq[h] is the count at
	// h's last one. A readiness carried by SysDone is older than a report
	// made while the request ran, so it does not overwrite one.
	readySeq    uint64
	svcReadySeq [bridge.MaxHandles]uint64

	// Requests no thread waits for (pool refills).
	asyncQ               [64]bridge.Request
	asyncHead, asyncTail int

	// Sockets ready for socket(2), and socket addresses for getsockname
	// and getpeername (see package bridge for why).
	pool  [bridge.PoolKinds][bridge.PoolSize]int32
	poolN [bridge.PoolKinds]int
	addrs [bridge.MaxHandles][2]sockaddr
)

// sockaddr is a cached socket address (n == 0: none).
type sockaddr struct {
	n uint8
	b [28]byte // the size of sockaddr_in6
}

// Wait keys in the kernel half of the address space, so they never equal a
// futex address.
const (
	serviceKey  = 0xFFFF_FFFF_FFFF_D000
	slotKeyBase = 0xFFFF_FFFF_0000_0000
)

// pollableBit marks a handle result whose description epoll can watch.
const pollableBit = 1 << 24

// forward queues the current thread's request and waits for its result.
//
//go:nosplit
func forward(op int32, handle int32, flags int32, a0, a1, a2, a3, a4, a5 uint64) uintptr {
	slot := int32(sched.Index(sched.Current()))
	r := &requests[slot]
	r.req = bridge.Request{Slot: slot, Op: op, Handle: handle, Flags: flags, Args: [6]uint64{a0, a1, a2, a3, a4, a5}}
	r.state = slotQueued
	queue[qtail%len(queue)] = slot
	qtail++
	sched.WakeKey(serviceKey, 1)
	for r.state != slotDone {
		sched.Block(slotKeyBase+uintptr(slot)*8, 0, false)
	}
	r.state = slotIdle
	return uintptr(r.result)
}

// forwardFD forwards an fd-level call on a service descriptor.
//
//go:nosplit
func forwardFD(op int32, e *fdEntry, a0, a1, a2, a3, a4, a5 uint64) uintptr {
	return forward(op, e.obj, e.flags, a0, a1, a2, a3, a4, a5)
}

// sysBridgeWait (SysWait): a service goroutine takes the next request.
//
//go:nosplit
func sysBridgeWait(f *amd64.Frame) uintptr {
	out := uintptr(f.RDI)
	if _, ok := userBytes(out, unsafe.Sizeof(bridge.Request{}), true); !ok {
		return errno(syscall.EFAULT)
	}
	for qhead == qtail && asyncHead == asyncTail {
		if sched.Block(serviceKey, 0, true) == sched.WokenSignal {
			return errno(syscall.EINTR)
		}
	}
	if asyncHead != asyncTail {
		*(*bridge.Request)(unsafe.Pointer(out)) = asyncQ[asyncHead%len(asyncQ)]
		asyncHead++
		return 0
	}
	slot := queue[qhead%len(queue)]
	qhead++
	r := &requests[slot]
	r.state = slotTaken
	r.seq = readySeq
	*(*bridge.Request)(unsafe.Pointer(out)) = r.req
	return uintptr(slot)
}

// sysBridgeDone (SysDone): a request's result is ready.
//
//go:nosplit
func sysBridgeDone(f *amd64.Frame) uintptr {
	slot := int(f.RDI)
	if slot < 0 || slot >= len(requests) || requests[slot].state != slotTaken {
		return errno(syscall.EINVAL)
	}
	r := &requests[slot]
	r.result = int64(f.RSI)
	doneReadiness(r, uint32(f.RDX))
	r.state = slotDone
	sched.WakeKey(slotKeyBase+uintptr(slot)*8, 1)
	return 0
}

// doneReadiness applies the readiness an answer carries (m, see
// bridge.DoneReady) to the request's handle, unless a SysReady report
// for it arrived while the request ran: that one is as new or newer.
//
//go:nosplit
func doneReadiness(r *requestSlot, m uint32) {
	if m&bridge.ReadinessValid == 0 {
		return
	}
	if h := r.req.Handle; h >= 0 && h < bridge.MaxHandles && svcReadySeq[h] <= r.seq {
		svcReady[h] = m &^ bridge.ReadinessValid
	}
}

// noteReady records a SysReady report of readiness mask for handle h.
//
//go:nosplit
func noteReady(h int, mask uint32) {
	if mask != 0 {
		// Every notification with readiness is an edge for EPOLLET
		// watchers, as each arrival of data is on Linux.
		svcGen[h]++
	}
	svcReady[h] = mask
	readySeq++
	svcReadySeq[h] = readySeq
}

// sysBridgeReady (SysReady): a description's readiness changed.
//
//go:nosplit
func sysBridgeReady(f *amd64.Frame) uintptr {
	h := int(f.RDI)
	if h < 0 || h >= bridge.MaxHandles {
		return errno(syscall.EINVAL)
	}
	noteReady(h, uint32(f.RSI))
	wakeEpollWaiters()
	return 0
}

// installHandle gives a new service description (the result of socket,
// accept or open) a file descriptor.
//
//go:nosplit
func installHandle(result uintptr, cloexec bool, flags int32) uintptr {
	if int64(result) < 0 {
		return result
	}
	h := int32(result &^ pollableBit)
	if h >= bridge.MaxHandles {
		return errno(syscall.EIO)
	}
	fd := allocFD(0)
	if fd < 0 {
		closeAsync(h)
		return errno(syscall.EMFILE)
	}
	// The service already reported the description's readiness (SysReady)
	// before answering, so svcReady[h] is current: leave it.
	svcPollable[h] = result&pollableBit != 0
	fds[fd] = fdEntry{kind: fdService, obj: h, cloexec: cloexec, flags: flags}
	return uintptr(fd)
}

// queueAsync queues a request no thread waits for, about handle h (or
// -1); it reports false if the queue is full (the request is dropped:
// refills are retried by the next socket call, a dropped close leaks a
// handle rather than hang).
//
//go:nosplit
func queueAsync(op int32, h int32, a0 uint64) bool {
	if asyncTail-asyncHead == len(asyncQ) {
		return false
	}
	asyncQ[asyncTail%len(asyncQ)] = bridge.Request{Slot: -1, Op: op, Handle: h, Args: [6]uint64{a0}}
	asyncTail++
	sched.WakeKey(serviceKey, 1)
	return true
}

// closeAsync closes service handle h without waiting for the answer
// (socket and pipe2 must not wait for the service, see package bridge).
//
//go:nosplit
func closeAsync(h int32) { queueAsync(bridge.OpClose, h, 0) }

// sysPoolPut (SysPoolPut): the service offers a fresh socket, or pipe.
//
//go:nosplit
func sysPoolPut(f *amd64.Frame) uintptr {
	k, e := f.RDI, int32(f.RSI)
	h, h2 := e, int32(-1)
	if k == bridge.PoolPipe {
		h, h2 = bridge.PipeHandles(e)
	}
	if k >= bridge.PoolKinds || e < 0 || h >= bridge.MaxHandles || h2 >= bridge.MaxHandles {
		return errno(syscall.EINVAL)
	}
	if poolN[k] == bridge.PoolSize {
		return errno(syscall.ENOSPC)
	}
	pool[k][poolN[k]] = e
	poolN[k]++
	svcPollable[h] = true
	if h2 >= 0 {
		svcPollable[h2] = true
	}
	return 0
}

// sysSetAddr (SysSetAddr): a socket's address changed.
//
//go:nosplit
func sysSetAddr(f *amd64.Frame) uintptr {
	h, which, buf, n := f.RDI, f.RSI, uintptr(f.RDX), uintptr(f.R10)
	if h >= bridge.MaxHandles || which > 1 || n > 28 {
		return errno(syscall.EINVAL)
	}
	b, ok := userBytes(buf, n, false)
	if !ok {
		return errno(syscall.EFAULT)
	}
	a := &addrs[h][which]
	a.n = uint8(copy(a.b[:], b))
	return 0
}

// sysBridgeServe (SysServe): the server is starting.
//
//go:nosplit
func sysBridgeServe(f *amd64.Frame) uintptr {
	serviceUp = true
	return 0
}

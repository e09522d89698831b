// Package sched implements kernel threads (the program's OS threads, which
// the Go runtime creates with clone), the scheduler that multiplexes them on
// the CPU, sleeping with deadlines, and futexes.
//
// Execution context: trap context. Everything runs with interrupts disabled
// on a kernel stack, is //go:nosplit and allocates nothing; threads live in
// a fixed table in supervisor-only memory.
//
// A thread that blocks (futex wait, sleep, epoll wait) calls Block, which
// switches to another runnable thread's kernel stack; it continues when
// something calls Wake for it. The LAPIC timer preempts a thread running in
// ring 3 when its time slice is over and another thread is runnable.
package sched

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/mem"
)

// Thread states.
const (
	Free     = iota // slot unused
	Runnable        // waiting for the CPU, in the run queue
	Running         // on the CPU
	Blocked         // waiting for Wake or its deadline
	Dead            // exited; its slot is reused once no CPU runs on its stack
)

// Wake reasons, returned by Block.
const (
	WokenNormally = 0
	WokenTimeout  = 1
	WokenSignal   = 2
)

// MaxThreads bounds the number of threads (Go creates one per P plus a few).
const MaxThreads = 256

// KernelStackSize is each thread's kernel stack.
const KernelStackSize = 32 << 10

// Thread is a kernel thread: one OS thread of the program.
type Thread struct {
	State int32
	TID   int32

	ksp       uintptr // saved kernel stack pointer while switched out
	kstackTop uintptr
	FSBase    uint64 // the program's TLS base (arch_prctl, clone CLONE_SETTLS)

	// Blocking.
	WaitKey       uintptr // what the thread waits for (futex address, ...)
	Deadline      int64   // monotonic ns at which to wake it, or 0
	Interruptible bool    // a signal wakes it (with WokenSignal)
	wakeReason    int32

	// Signals (managed by package linux).
	SigMask  uint64
	Pending  uint64
	AltSP    uintptr
	AltSize  uintptr
	AltFlags int32
	ClearTID uintptr       // CLONE_CHILD_CLEARTID address
	SigInfo  [32][2]uint64 // per signal: si_code, si_addr of a pending fault

	next  int32 // run-queue link (index+1; 0 = none)
	onCPU int32 // the CPU it runs (or last ran) on
}

var threadTable uintptr // *[MaxThreads]Thread in kernel memory

// slots is one more than the highest slot a thread was ever created in.
// The scans that run on every context switch (deadlines, wait keys) stop
// there: a Go program has a handful of threads, and walking all
// MaxThreads entries of ~600 bytes each cost tens of microseconds per
// switch under emulation. Changed under the kernel lock; never shrinks.
var slots int

// table returns the slots threads have used.
//
//go:nosplit
func table() []Thread { return all()[:slots] }

//go:nosplit
func all() *[MaxThreads]Thread { return (*[MaxThreads]Thread)(unsafe.Pointer(threadTable)) }

// ThreadAt returns the thread in slot i.
//
//go:nosplit
func ThreadAt(i int) *Thread { return &all()[i] }

// Current returns the thread running on this CPU.
//
//go:nosplit
func Current() *Thread { return cpu().cur() }

// FindTID returns the live thread with the given TID, or nil.
//
//go:nosplit
func FindTID(tid int32) *Thread {
	t := table()
	for i := range t {
		if t[i].TID == tid && t[i].State != Free && t[i].State != Dead {
			return &t[i]
		}
	}
	return nil
}

var nextTID int32 = 1

// NewThread allocates a thread whose first run returns to ring 3 with the
// register state in frame (copied). It returns nil if the table is full or
// memory is exhausted. The caller makes it runnable with Wake.
//
//go:nosplit
func NewThread(frame *amd64.Frame) *Thread {
	tab := all()
	for i := range tab {
		t := &tab[i]
		// A dead thread's slot is free: it switched to a scheduler loop
		// for the last time before anyone could take the kernel lock.
		if t.State != Free && t.State != Dead {
			continue
		}
		if t.kstackTop == 0 {
			top := mem.MapKernelStack(i, KernelStackSize)
			if top == 0 {
				return nil
			}
			t.kstackTop = top - amd64.KernelStackPad // Frame.FPU 64-byte aligned
		}
		top := t.kstackTop
		*t = Thread{kstackTop: top, TID: nextTID, State: Blocked}
		if i >= slots {
			slots = i + 1
		}
		nextTID++
		// The kernel stack: the Frame to return with at the top, and
		// below it what Swtch pops: a frame pointer and a return address
		// into trapReturn.
		f := (*amd64.Frame)(unsafe.Pointer(top - amd64.FrameSize))
		*f = *frame
		sp := top - amd64.FrameSize - 16
		*(*uintptr)(unsafe.Pointer(sp)) = 0
		*(*uintptr)(unsafe.Pointer(sp + 8)) = amd64.ThreadStartPC()
		t.ksp = sp
		return t
	}
	return nil
}

// Frame returns the thread's saved user Frame (valid while it is in the
// kernel: blocked, runnable, or handling a trap).
//
//go:nosplit
func (t *Thread) Frame() *amd64.Frame {
	return (*amd64.Frame)(unsafe.Pointer(t.kstackTop - amd64.FrameSize))
}

// Exit ends the current thread and never returns.
//
//go:nosplit
func Exit() {
	t := Current()
	t.State = Dead
	Schedule()
	for {
		amd64.Hlt() // not reached: a dead thread is never picked again
	}
}

// Index returns t's slot in the thread table.
//
//go:nosplit
func Index(t *Thread) int { return int(indexOf(t)) }

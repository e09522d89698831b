package sched

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/mem"
)

// TimeSlice is how long a thread runs before the timer lets another
// runnable thread have the CPU.
const TimeSlice = 10_000_000 // 10 ms

// CPU is one processor's scheduling state. GS points at its first field.
type CPU struct {
	amd64.CPUBlock
	// Kernel structures hold no Go pointers: a pointer store would get a
	// write barrier, which must never run in trap context.
	tables  uintptr // *amd64.Tables
	current uintptr // *Thread
	idleKSP uintptr // kernel stack of the boot context, used while idle

	sliceEnd int64 // when the running thread's time slice ends

	runHead, runTail int32 // run queue (thread index+1)

	apicTicksPerMs uint64
}

var cpu0 uintptr

//go:nosplit
func (c *CPU) cur() *Thread { return (*Thread)(unsafe.Pointer(c.current)) }

//go:nosplit
func (c *CPU) tablesPtr() *amd64.Tables { return (*amd64.Tables)(unsafe.Pointer(c.tables)) }

//go:nosplit
func cpu() *CPU { return (*CPU)(unsafe.Pointer(cpu0)) }

// Init sets up the thread table, this CPU's descriptor tables and its
// LAPIC timer. It must run after mem.Activate.
//
//go:nosplit
func Init(apicVA uintptr) bool {
	size := unsafe.Sizeof([MaxThreads]Thread{}) + unsafe.Sizeof(CPU{}) + amd64.TablesSize + 2*mem.PageSize
	base := allocPages(size)
	if base == 0 {
		return false
	}
	threadTable = base
	cpu0 = base + unsafe.Sizeof([MaxThreads]Thread{})
	c := cpu()
	c.tables = (cpu0 + unsafe.Sizeof(CPU{}) + 15) &^ 15
	ist := mem.MapKernelStack(MaxThreads, KernelStackSize) // emergency stack
	if ist == 0 {
		return false
	}
	amd64.InitCPU(c.tablesPtr(), &c.CPUBlock, ist)
	amd64.InitAPIC(apicVA)
	calibrateAPIC()
	return true
}

// allocPages returns zeroed, physically contiguous kernel memory from the
// direct map (bump allocation is in address order, so consecutive frames
// are contiguous at boot; this is checked).
//
//go:nosplit
func allocPages(size uintptr) uintptr {
	n := (size + mem.PageSize - 1) / mem.PageSize
	first := mem.AllocZeroFrame()
	if first == 0 {
		return 0
	}
	for i := uintptr(1); i < n; i++ {
		if f := mem.AllocZeroFrame(); f != first+i*mem.PageSize {
			return 0
		}
	}
	return mem.P2V(first)
}

// calibrateAPIC measures the LAPIC timer's rate against the TSC.
//
//go:nosplit
func calibrateAPIC() {
	const start = 0xFFFFFFFF
	amd64.TimerOneShot(start)
	t0 := amd64.Rdtsc()
	wait := clock.NsToTicks(2_000_000) // 2 ms: the TSC is already calibrated
	for amd64.Rdtsc()-t0 < wait {
		amd64.Pause()
	}
	elapsed := uint64(start - amd64.TimerCount())
	amd64.TimerOneShot(0)
	cpu().apicTicksPerMs = elapsed / 2
	if cpu().apicTicksPerMs == 0 {
		cpu().apicTicksPerMs = 1_000_000
	}
}

// Start runs thread t; the boot context becomes this CPU's idle context.
//
//go:nosplit
func Start(t *Thread) {
	c := cpu()
	t.State = Running
	c.current = uintptr(unsafe.Pointer(t))
	c.sliceEnd = clock.Nanotime() + TimeSlice
	switchTo(t)
	amd64.Swtch(&c.idleKSP, t.ksp)
}

//go:nosplit
func switchTo(t *Thread) {
	c := cpu()
	amd64.SetKernelStack(c.tablesPtr(), &c.CPUBlock, t.kstackTop)
	c.UserFS = uintptr(t.FSBase) // loaded by the trap return path
}

// SetFS changes the current thread's TLS base (arch_prctl ARCH_SET_FS).
//
//go:nosplit
func SetFS(v uint64) {
	Current().FSBase = v
	cpu().UserFS = uintptr(v)
}

//go:nosplit
func enqueue(t *Thread) {
	c := cpu()
	idx := int32(indexOf(t)) + 1
	t.next = 0
	if c.runTail == 0 {
		c.runHead = idx
	} else {
		ThreadAt(int(c.runTail - 1)).next = idx
	}
	c.runTail = idx
}

//go:nosplit
func dequeue() *Thread {
	c := cpu()
	if c.runHead == 0 {
		return nil
	}
	t := ThreadAt(int(c.runHead - 1))
	c.runHead = t.next
	if c.runHead == 0 {
		c.runTail = 0
	}
	t.next = 0
	return t
}

//go:nosplit
func indexOf(t *Thread) uintptr {
	return (uintptr(unsafe.Pointer(t)) - threadTable) / unsafe.Sizeof(Thread{})
}

// Wake makes a blocked thread runnable; Block returns reason in it.
//
//go:nosplit
func Wake(t *Thread, reason int32) {
	if t.State != Blocked {
		return
	}
	t.State = Runnable
	t.wakeReason = reason
	t.WaitKey = 0
	t.Deadline = 0
	enqueue(t)
}

// Block puts the current thread to sleep until Wake, its deadline (if not
// 0, in monotonic ns) or, if interruptible, a signal. It returns why it woke.
//
//go:nosplit
func Block(key uintptr, deadline int64, interruptible bool) int32 {
	t := Current()
	t.State = Blocked
	t.WaitKey = key
	t.Deadline = deadline
	t.Interruptible = interruptible
	t.wakeReason = WokenNormally
	Schedule()
	return t.wakeReason
}

// Yield lets other runnable threads run first.
//
//go:nosplit
func Yield() {
	t := Current()
	if cpu().runHead == 0 {
		return
	}
	t.State = Runnable
	enqueue(t)
	Schedule()
}

// Schedule switches to the next runnable thread; the current thread must
// already be Blocked, Runnable (and queued) or Dead. While nothing is
// runnable the CPU halts until an interrupt makes something runnable.
//
//go:nosplit
func Schedule() {
	c := cpu()
	prev := c.cur()
	var next *Thread
	for {
		wakeExpired()
		if next = dequeue(); next != nil {
			break
		}
		if prev.State == Running {
			next = prev
			break
		}
		armTimer()
		amd64.WaitForInterrupt()
	}
	next.State = Running
	c.sliceEnd = clock.Nanotime() + TimeSlice
	armTimer()
	if next == prev {
		return
	}
	c.current = uintptr(unsafe.Pointer(next))
	switchTo(next)
	amd64.Swtch(&prev.ksp, next.ksp)
}

// wakeExpired wakes every blocked thread whose deadline has passed.
//
//go:nosplit
func wakeExpired() {
	now := clock.Nanotime()
	tab := table()
	for i := range tab {
		t := &tab[i]
		if t.State == Blocked && t.Deadline != 0 && t.Deadline <= now {
			Wake(t, WokenTimeout)
		}
	}
}

// armTimer programs the LAPIC timer for the earliest of: a sleeping
// thread's deadline, and the end of the time slice if another thread is
// waiting for the CPU. With neither, the timer stays off (a tickless idle).
//
//go:nosplit
func armTimer() {
	c := cpu()
	next := int64(0)
	if c.runHead != 0 {
		next = c.sliceEnd
	}
	tab := table()
	for i := range tab {
		t := &tab[i]
		if t.State == Blocked && t.Deadline != 0 && (next == 0 || t.Deadline < next) {
			next = t.Deadline
		}
	}
	if next == 0 {
		amd64.TimerOneShot(0)
		return
	}
	d := next - clock.Nanotime()
	if d < 10_000 {
		d = 10_000 // 10 µs: the interrupt must come after we return
	}
	ticks := uint64(d) * c.apicTicksPerMs / 1_000_000
	if ticks > 0xFFFFFFFF {
		ticks = 0xFFFFFFFF
	}
	if ticks == 0 {
		ticks = 1
	}
	amd64.TimerOneShot(uint32(ticks))
}

// Tick handles the timer interrupt. fromUser reports whether it interrupted
// the program (only then may the running thread be preempted; in the kernel
// it interrupted the idle loop, which rechecks by itself).
//
//go:nosplit
func Tick(fromUser bool) {
	amd64.EOI()
	c := cpu()
	wakeExpired()
	if fromUser && c.runHead != 0 && clock.Nanotime() >= c.sliceEnd {
		t := c.cur()
		t.State = Runnable
		enqueue(t)
		Schedule()
		return
	}
	armTimer()
}

// NumCPU is the number of CPUs threads run on.
//
//go:nosplit
func NumCPU() int { return 1 }

// LiveThreads counts threads that have not exited.
//
//go:nosplit
func LiveThreads() int {
	n := 0
	tab := table()
	for i := range tab {
		if s := tab[i].State; s != Free && s != Dead {
			n++
		}
	}
	return n
}

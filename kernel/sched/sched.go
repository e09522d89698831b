package sched

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/boottrace"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/mem"
)

// TimeSlice is how long a thread runs before the timer lets another
// runnable thread have the CPU.
const TimeSlice = 10_000_000 // 10 ms

// MaxCPUs bounds the processors the kernel uses.
const MaxCPUs = 16

// CPU is one processor's scheduling state. GS points at its first field.
type CPU struct {
	amd64.CPUBlock
	// Kernel structures hold no Go pointers: a pointer store would get a
	// write barrier, which must never run in trap context.
	tables   uintptr // *amd64.Tables
	current  uintptr // *Thread, or 0 while the scheduler loop runs
	schedKSP uintptr // the scheduler loop's saved stack pointer
	sliceEnd int64   // when the running thread's time slice ends
	apicID   uint32
	index    int
	idle     bool // halted in the scheduler loop, waiting for work
	// The timer as last programmed: its deadline (monotonic ns, 0 = off)
	// and whether its mode register is set. A switch between two threads
	// usually leaves the deadline as it was; not writing it again saves
	// the slowest part of a switch under emulation (each timer register
	// access leaves translated code for the device model).
	timerAt  int64
	timerSet bool
}

// The run queue is shared by all CPUs (thread index+1; 0 = none); the
// kernel lock protects it, like everything in trap context.
var (
	runHead, runTail int32
	cpus             [MaxCPUs]uintptr
	ncpus            int
	apicTicksPerMs   uint64
)

//go:nosplit
func cpu() *CPU { return (*CPU)(unsafe.Pointer(amd64.CPUSelf())) }

//go:nosplit
func (c *CPU) cur() *Thread { return (*Thread)(unsafe.Pointer(c.current)) }

//go:nosplit
func (c *CPU) tablesPtr() *amd64.Tables { return (*amd64.Tables)(unsafe.Pointer(c.tables)) }

// Init sets up the thread table and the boot CPU: its descriptor tables
// and its LAPIC timer, whose rate is measured from here to
// FinishCalibration. It must run after mem.Activate and
// clock.StartCalibration.
//
//go:nosplit
func Init(apicVA uintptr) bool {
	threadTable = allocPages(unsafe.Sizeof([MaxThreads]Thread{}))
	if threadTable == 0 {
		return false
	}
	amd64.InitAPIC(apicVA)
	if !initCPU(0, amd64.APICID()) {
		return false
	}
	deadlineTimer = amd64.HasTSCDeadline()
	if !deadlineTimer {
		t0 := amd64.Rdtsc()
		amd64.TimerOneShot(apicCalStart)
		t1 := amd64.Rdtsc()
		apicCalTSC = t0 + (t1-t0)/2
	}
	return true
}

// The LAPIC timer's calibration: a one-shot count from apicCalStart,
// started by Init at TSC apicCalTSC.
const apicCalStart = 0xFFFFFFFF

var apicCalTSC uint64

// FinishCalibration measures the LAPIC timer's rate against the TSC over
// the time since Init; clock.FinishCalibration must have run.
//
//go:nosplit
func FinishCalibration() {
	if deadlineTimer {
		return
	}
	// The reading the TSC brackets most tightly (see clock's
	// tightPITStatus: the host may deschedule the vCPU mid-read).
	var count uint32
	t, best := uint64(0), ^uint64(0)
	for i := 0; i < 5; i++ {
		t0 := amd64.Rdtsc()
		c := amd64.TimerCount()
		t1 := amd64.Rdtsc()
		if t1-t0 < best {
			best, count, t = t1-t0, c, t0+(t1-t0)/2
		}
	}
	amd64.TimerOneShot(0)
	ns := clock.TicksToNs(t - apicCalTSC)
	apicTicksPerMs = 0
	if ns >= 1_000_000 && count != 0 {
		apicTicksPerMs = uint64(apicCalStart-count) * 1_000_000 / uint64(ns)
	}
	if apicTicksPerMs == 0 {
		calibrateAPIC() // too short a window, or the count ran out
	}
}

// deadlineTimer: the LAPIC timers run in TSC-deadline mode (every CPU is
// the same model); otherwise in one-shot mode at apicTicksPerMs.
var deadlineTimer bool

// setTimer fires this CPU's timer once, d nanoseconds from now (d > 0),
// or stops it (d == 0). The mode register is written on the first call
// only; after that one register (or MSR) write re-arms the timer.
//
//go:nosplit
func setTimer(d int64) {
	c := cpu()
	first := !c.timerSet
	c.timerSet = true
	if deadlineTimer {
		tsc := uint64(0)
		if d != 0 {
			tsc = amd64.Rdtsc() + clock.NsToTicks(d)
		}
		if first {
			amd64.TimerDeadline(tsc)
		} else {
			amd64.SetTimerDeadline(tsc)
		}
		return
	}
	start := amd64.TimerOneShot
	if !first {
		start = amd64.RestartTimer
	}
	if d == 0 {
		start(0)
		return
	}
	ticks := uint64(d) * apicTicksPerMs / 1_000_000
	if ticks > 0xFFFFFFFF {
		ticks = 0xFFFFFFFF
	}
	if ticks == 0 {
		ticks = 1
	}
	start(uint32(ticks))
}

// initCPU sets up the running CPU as CPU index.
//
//go:nosplit
func initCPU(index int, apicID uint32) bool {
	base := allocPages(unsafe.Sizeof(CPU{}) + amd64.TablesSize + 16)
	if base == 0 {
		return false
	}
	c := (*CPU)(unsafe.Pointer(base))
	c.tables = (base + unsafe.Sizeof(CPU{}) + 15) &^ 15
	c.index, c.apicID = index, apicID
	c.Index = uintptr(index)
	if index > 0 {
		c.KernelFS = cpuAt(0).KernelFS // one shared kernel TLS block: its g is a dummy
	}
	ist := mem.MapKernelStack(MaxThreads+2*index, KernelStackSize) // emergency stack
	if ist == 0 {
		return false
	}
	amd64.InitCPU(c.tablesPtr(), &c.CPUBlock, ist)
	cpus[index&(MaxCPUs-1)] = base
	if index >= ncpus {
		ncpus = index + 1
	}
	amd64.AddOnlineCPU(apicID)
	return true
}

//go:nosplit
func cpuAt(i int) *CPU { return (*CPU)(unsafe.Pointer(cpus[i&(MaxCPUs-1)])) }

// InitAP sets up an application processor, on its own stack: its
// descriptor tables and LAPIC (the timer rate is the boot CPU's).
//
//go:nosplit
func InitAP(index int) bool {
	amd64.InitAPIC(0)
	return initCPU(index, amd64.APICID())
}

// SchedulerStack maps the stack an application processor's scheduler
// loop runs on.
//
//go:nosplit
func SchedulerStack(index int) uintptr {
	return mem.MapKernelStack(MaxThreads+2*index+1, KernelStackSize)
}

// allocPages returns zeroed, physically contiguous kernel memory from the
// direct map.
//
//go:nosplit
func allocPages(size uintptr) uintptr {
	f := mem.AllocContiguous((size + mem.PageSize - 1) / mem.PageSize)
	if f == 0 {
		return 0
	}
	return mem.P2V(f)
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
	apicTicksPerMs = elapsed / 2
	if apicTicksPerMs == 0 || wait == 0 {
		apicTicksPerMs = 1_000_000 // the clock is not calibrated: assume 1 GHz (QEMU's and KVM's rate)
	}
}

// Start makes t (if not nil) runnable and turns the calling context (the
// boot stack, or an application processor's) into this CPU's scheduler
// loop. The caller holds the kernel lock. It never returns.
//
//go:nosplit
func Start(t *Thread) {
	if t != nil {
		t.State = Blocked
		Wake(t, WokenNormally)
	}
	run()
}

// run is a CPU's scheduler loop. A thread that gives up the CPU switches
// to it (Schedule); it picks the next runnable thread, or halts until an
// interrupt brings work. Running it on the CPU's own stack, never on a
// blocked thread's, means another CPU can resume that thread at once.
//
//go:nosplit
func run() {
	c := cpu()
	for {
		wakeExpired()
		if t := dequeue(); t != nil {
			t.State = Running
			t.onCPU = int32(c.index)
			c.current = uintptr(unsafe.Pointer(t))
			c.sliceEnd = clock.Nanotime() + TimeSlice
			switchTo(t)
			armTimer()
			amd64.Swtch(&c.schedKSP, t.ksp)
			c.current = 0
			continue
		}
		c.idle = true
		armTimer()
		amd64.Unlock()
		t0 := amd64.Rdtsc()
		amd64.WaitForInterrupt()
		boottrace.Idle(amd64.Rdtsc() - t0)
		amd64.Lock()
		c.idle = false
	}
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
	idx := int32(indexOf(t)) + 1
	t.next = 0
	if runTail == 0 {
		runHead = idx
	} else {
		ThreadAt(int(runTail - 1)).next = idx
	}
	runTail = idx
	// An idle CPU halts until an interrupt: send it one.
	self := cpu()
	for i := 0; i < ncpus && i < MaxCPUs; i++ {
		if o := cpuAt(i); o != self && o.idle {
			o.idle = false
			amd64.SendIPI(o.apicID, amd64.VecWake)
			break
		}
	}
}

//go:nosplit
func dequeue() *Thread {
	if runHead == 0 {
		return nil
	}
	t := ThreadAt(int(runHead - 1))
	runHead = t.next
	if runHead == 0 {
		runTail = 0
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
	if runHead == 0 {
		return
	}
	t.State = Runnable
	enqueue(t)
	Schedule()
}

// Schedule gives up the CPU: the current thread must already be Blocked,
// Runnable (and queued) or Dead. It switches to this CPU's scheduler loop
// and returns when some CPU runs the thread again.
//
//go:nosplit
func Schedule() {
	t := Current()
	amd64.Swtch(&t.ksp, cpu().schedKSP)
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

// sampleAt is when the profiler's next sample is due (see armTimer).
var sampleAt int64

// armTimer programs the LAPIC timer for the earliest of: a sleeping
// thread's deadline, and the end of the time slice if another thread is
// waiting for the CPU. With neither, the timer stays off (a tickless idle).
//
//go:nosplit
func armTimer() {
	c := cpu()
	next := int64(0)
	if runHead != 0 && c.current != 0 {
		next = c.sliceEnd
	}
	tab := table()
	for i := range tab {
		t := &tab[i]
		if t.State == Blocked && t.Deadline != 0 && (next == 0 || t.Deadline < next) {
			next = t.Deadline
		}
	}
	if boottrace.Sampling() {
		// The next sample is due at a fixed time, not a period from
		// every switch: a deadline that moves with each switch would
		// re-arm the timer on each and distort the profile.
		if now := clock.Nanotime(); sampleAt <= now {
			sampleAt = now + boottrace.SamplePeriod
		}
		if next == 0 || sampleAt < next {
			next = sampleAt
		}
	}
	if next == c.timerAt {
		return // programmed already (or off already)
	}
	c.timerAt = next
	if next == 0 {
		setTimer(0)
		return
	}
	d := next - clock.Nanotime()
	if d < 10_000 {
		d = 10_000 // 10 µs: the interrupt must come after we return
	}
	setTimer(d)
}

// Tick handles the timer interrupt. fromUser reports whether it interrupted
// the program (only then may the running thread be preempted; in the kernel
// it interrupted the idle loop, which rechecks by itself).
//
//go:nosplit
func Tick(fromUser bool) {
	amd64.EOI()
	c := cpu()
	c.timerAt = 0 // it fired: a one-shot timer is off now
	wakeExpired()
	if fromUser && c.current != 0 && runHead != 0 && clock.Nanotime() >= c.sliceEnd {
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
func NumCPU() int { return ncpus }

// Kick makes a thread running on another CPU enter the kernel soon (so a
// signal posted to it is delivered): an IPI to that CPU.
//
//go:nosplit
func Kick(t *Thread) {
	if t.State != Running {
		return
	}
	if c := cpuAt(int(t.onCPU)); c != cpu() {
		amd64.SendIPI(c.apicID, amd64.VecWake)
	}
}

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

// Package boottrace records when the boot reaches each of its phases, as
// TSC stamps, and prints them when the program exits if the kernel option
// stardust.boottrace is given, with the timeline of the first system
// calls. It answers "where do the milliseconds before main go?" without a
// profiler. With stardust.boottrace.samples the timer also interrupts the
// program every 100 µs and the report lists the instruction pointers it
// found (`go tool addr2line IMAGE` names them): a sampling profile of
// the boot. Sampling slows the boot down; the phases are measured without.
//
// Under QEMU's TCG the guest TSC counts host TSC ticks since the VM
// started, so the stamps are also times since QEMU started the vCPU;
// under KVM they have an arbitrary origin and only the differences mean
// anything.
//
// Execution context: trap context (//go:nosplit, no allocation).
package boottrace

import (
	"math/bits"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/klog"
)

// Phase is a point the boot passes once.
type Phase int

// The phases, in the order the boot reaches them.
const (
	Entry        Phase = iota // the kernel's first Go code
	Memory                    // page tables built and active
	Sched                     // CPU tables (the clocks' calibration runs)
	Devices                   // randomness and the device scan done
	Clock                     // TSC and LAPIC timer calibrated
	CPUs                      // application processors started
	Process                   // the first thread is about to run
	FirstSyscall              // the Go runtime's first system call
	Services                  // the kernel's init (service goroutines) runs
	FirstWrite                // the program's first write to stdout/stderr
	Exit                      // exit_group
	nPhases
)

var names = [nPhases]string{
	"kernel entry", "memory", "scheduler", "devices", "clocks calibrated", "CPUs",
	"first thread", "first syscall", "kernel services", "first output", "exit",
}

var (
	stamps   [nPhases]uint64
	enabled  bool
	sampling bool
	faults   uint64 // page faults so far
	idle     uint64 // TSC ticks CPUs spent halted
	idleBoot uint64 // ... while the trace still recorded system calls

	// The first system calls, with the time and the fault count then: the
	// timeline of the Go runtime's start.
	calls  [400]call
	ncalls int
)

// Samples of the program's instruction pointer, taken by the timer
// interrupt every SamplePeriod while tracing: where the boot's user time
// goes. `go tool addr2line` on the image names them.
var (
	samples  [2000]uint64
	nsamples int
)

// SamplePeriod is the timer period while tracing, in nanoseconds.
const SamplePeriod = 100_000

// Sampling reports whether the timer should sample the program.
//
//go:nosplit
func Sampling() bool { return sampling }

// Sample records an interrupted user instruction pointer. In profile
// mode (EnableProfile) it skips the boot and prints the samples as soon as
// the buffer is full.
//
//go:nosplit
func Sample(rip uint64) {
	if !sampling || nsamples >= len(samples) {
		return
	}
	if profileSkip > 0 {
		profileSkip--
		return
	}
	if nsamples == 0 {
		profileTSC, profileIdle = amd64.Rdtsc(), idle
	}
	samples[nsamples] = rip
	nsamples++
	if profile && nsamples == len(samples) {
		sampling = false
		printSamples()
		printProfileCalls()
		printKernelTicks()
		klog.Str(klog.Prefix)
		klog.Str("TSC ticks per second: ")
		klog.Dec(int64(clock.TSCHz()))
		klog.Str("\n")
		klog.Str(klog.Prefix)
		klog.Str("profile window (TSC ticks): ")
		klog.Dec(int64(amd64.Rdtsc() - profileTSC))
		klog.Str(", idle: ")
		klog.Dec(int64(idle - profileIdle))
		klog.Str("\n")
	}
}

// printProfileCalls prints how often each system call was made while the
// profile's samples were taken.
//
//go:nosplit
func printProfileCalls() {
	klog.Line("the last system calls of the window (TSC ticks since the previous, thread, number):")
	start := nrecent - len(recent)
	if start < 0 {
		start = 0
	}
	for i := start; i < nrecent; i++ {
		c := &recent[i%len(recent)]
		d := uint64(0)
		if i > start {
			d = c.tsc - recent[(i-1)%len(recent)].tsc
		}
		klog.Str(klog.Prefix)
		klog.Str("  recent ")
		klog.Dec(int64(d))
		klog.Str(" ")
		klog.Dec(int64(c.tid))
		klog.Str(" ")
		klog.Dec(int64(c.nr))
		klog.Str("\n")
	}
	klog.Line("system calls during the samples (number: count):")
	for i := range len(profileCalls) {
		if n := profileCalls[i]; n != 0 {
			nr := i
			if nr >= stardustCalls {
				nr += bridge.SysFirst - stardustCalls
			}
			klog.Str(klog.Prefix)
			klog.Str("  call ")
			klog.Dec(int64(nr))
			klog.Str(": ")
			klog.Dec(int64(n))
			klog.Str("\n")
		}
	}
}

// recent holds the last system calls of the profile's window, with the
// calling thread: the sequence a request goes through.
var (
	recent  [300]recentCall
	nrecent int
)

type recentCall struct {
	tsc uint64
	nr  uint32
	tid int32
}

var (
	profile     bool
	profileSkip int
	profileTSC  uint64 // when the first sample was taken
	profileIdle uint64 // idle ticks then
	// System calls made while the profile's samples were taken, by
	// number (Stardust's own calls from stardustCalls).
	profileCalls [stardustCalls + 32]uint32
)

const (
	stardustCalls = 512 // Linux's calls are below; Stardust's counted from here
	sysWrite      = 1
)

// Kernel occupancy while profiling: the TSC ticks from each entry from
// ring 3 to the next return to ring 3 (on whichever thread), charged to
// what entered (a system call or an interrupt vector), less the ticks the
// CPU spent halted in between. A blocking call is thus charged with the
// switch to the next thread. Exact for one CPU; the profile runs on one.
var (
	enterTSC, enterIdle uint64
	enterKey            = -1
	kernelTicks         [len(profileCalls) + 256]uint64
	kernelCount         [len(profileCalls) + 256]uint32
)

// Enter notes an entry into the kernel from the program: the trap's
// vector, and for a system call (amd64.VectorSyscall) its number nr.
//
//go:nosplit
func Enter(vector uint64, nr uint64) {
	if !profile {
		return
	}
	if nsamples == 0 || nsamples >= len(samples) {
		enterKey = -1
		return
	}
	key := -1
	if vector == amd64.VectorSyscall {
		if nr < stardustCalls {
			key = int(nr)
		} else if i := nr - bridge.SysFirst + stardustCalls; i < uint64(len(profileCalls)) {
			key = int(i)
		}
	} else if vector < 256 {
		key = len(profileCalls) + int(vector)
	}
	enterKey, enterTSC, enterIdle = key, amd64.Rdtsc(), idle
}

// Leave charges the time since the matching Enter.
//
//go:nosplit
func Leave() {
	if !profile || enterKey < 0 {
		return
	}
	d := amd64.Rdtsc() - enterTSC - (idle - enterIdle)
	kernelTicks[enterKey] += d
	kernelCount[enterKey]++
	enterKey = -1
}

//go:nosplit
func printKernelTicks() {
	klog.Line("kernel occupancy by cause (key: entries ticks):")
	for i := range kernelTicks {
		if kernelCount[i] == 0 {
			continue
		}
		klog.Str(klog.Prefix)
		if i >= len(profileCalls) {
			klog.Str("  kvector ")
			klog.Dec(int64(i - len(profileCalls)))
		} else {
			nr := i
			if nr >= stardustCalls {
				nr += bridge.SysFirst - stardustCalls
			}
			klog.Str("  kcall ")
			klog.Dec(int64(nr))
		}
		klog.Str(": ")
		klog.Dec(int64(kernelCount[i]))
		klog.Str(" ")
		klog.Dec(int64(kernelTicks[i]))
		klog.Str("\n")
	}
}

// EnableProfile samples the running program rather than its boot: the
// first skip samples (skip*SamplePeriod of the program running) are
// dropped, the next ones printed when the buffer fills. For profiling a
// server under load (kernel option stardust.profile).
//
//go:nosplit
func EnableProfile(skip int) { sampling, profile, profileSkip = true, true, skip }

//go:nosplit
func printSamples() {
	klog.Line("samples (user instruction pointers):")
	for i := 0; i < nsamples; i++ {
		klog.Str(klog.Prefix)
		klog.Str("  sample ")
		klog.Hex(samples[i])
		klog.Str("\n")
	}
}

type call struct {
	nr, faults uint64
	tsc        uint64
}

// Idle adds ticks a CPU spent halted, waiting for work.
//
//go:nosplit
func Idle(ticks uint64) {
	idle += ticks
	if ncalls < len(calls) {
		idleBoot = idle
	}
}

// Fault counts a page fault.
//
//go:nosplit
func Fault() { faults++ }

// Tracing reports whether Syscall wants to see system calls.
//
//go:nosplit
func Tracing() bool { return enabled || profile }

// Syscall records system call nr (its first argument arg0) made by
// thread tid: the phases system calls mark, the boot's timeline while it
// has room, and the profile's counts. Call it only while Tracing.
//
//go:nosplit
func Syscall(nr, arg0 uint64, tid int32) {
	Mark(FirstSyscall)
	if nr >= bridge.SysFirst {
		Mark(Services)
	}
	if nr == sysWrite && (arg0 == 1 || arg0 == 2) {
		Mark(FirstWrite)
	}
	if profile && nsamples > 0 && nsamples < len(samples) {
		if i := nr - bridge.SysFirst + stardustCalls; nr < stardustCalls {
			profileCalls[nr]++
		} else if i < uint64(len(profileCalls)) {
			profileCalls[i]++
		}
		recent[nrecent%len(recent)] = recentCall{tsc: amd64.Rdtsc(), nr: uint32(nr), tid: tid}
		nrecent++
	}
	if enabled && ncalls < len(calls) {
		calls[ncalls] = call{nr: nr, faults: faults, tsc: amd64.Rdtsc()}
		ncalls++
	}
}

// Enable makes Report print; with samples, the timer samples the program.
//
//go:nosplit
func Enable(samples bool) { enabled, sampling = true, samples }

// Mark records the first time the boot reaches p.
//
//go:nosplit
func Mark(p Phase) {
	if stamps[p] == 0 {
		stamps[p] = amd64.Rdtsc()
	}
}

// Report prints each phase reached, with the time since the TSC's origin
// and since the previous phase, then the system calls and samples; name
// names a system call.
//
//go:nosplit
func Report(name func(nr uint64) string) {
	tscHz := clock.TSCHz()
	if !enabled || tscHz == 0 {
		return
	}

	klog.Line("boot trace (ms since the TSC origin, +ms since the previous phase):")
	var prev uint64
	for p := Phase(0); p < nPhases; p++ {
		t := stamps[p]
		if t == 0 {
			continue
		}
		klog.Str(klog.Prefix)
		klog.Str("  ")
		klog.Str(names[p])
		klog.Str(": ")
		printMs(ticksToNs(t, tscHz))
		if prev != 0 {
			klog.Str(" +")
			printMs(ticksToNs(t-prev, tscHz))
		}
		klog.Str("\n")
		prev = t
	}
	klog.Line("system calls (ms, +ms, name, page faults so far):")
	prev = stamps[Process]
	for i := 0; i < ncalls; i++ {
		c := &calls[i]
		klog.Str(klog.Prefix)
		klog.Str("  ")
		printMs(ticksToNs(c.tsc, tscHz))
		klog.Str(" +")
		printMs(ticksToNs(c.tsc-prev, tscHz))
		klog.Str(" ")
		if n := name(c.nr); n != "" {
			klog.Str(n)
		} else {
			klog.Dec(int64(c.nr))
		}
		klog.Str(" ")
		klog.Dec(int64(c.faults))
		klog.Str("\n")
		prev = c.tsc
	}
	if sampling {
		printSamples()
	}
	klog.Str(klog.Prefix)
	klog.Str("idle (all CPUs, ms): ")
	printMs(ticksToNs(idle, tscHz))
	klog.Str(", during the traced calls: ")
	printMs(ticksToNs(idleBoot, tscHz))
	klog.Str("\n")
	klog.Str(klog.Prefix)
	klog.Str("page faults: ")
	klog.Dec(int64(faults))
	klog.Str("\n")
}

// printMs prints ns as milliseconds with two decimals.
//
//go:nosplit
func printMs(ns int64) {
	klog.Dec(ns / 1_000_000)
	frac := ns % 1_000_000 / 10_000
	klog.Str(".")
	if frac < 10 {
		klog.Str("0")
	}
	klog.Dec(frac)
}

// ticksToNs converts t TSC ticks to nanoseconds without overflowing.
//
//go:nosplit
func ticksToNs(t, hz uint64) int64 {
	hi, lo := bits.Mul64(t, 1_000_000_000)
	if hi >= hz {
		return -1
	}
	q, _ := bits.Div64(hi, lo, hz)
	return int64(q)
}

package amd64

// The vDSO's clock. Go's runtime reads the time through the vDSO's
// __vdso_clock_gettime when the auxiliary vector offers one (AT_SYSINFO_EHDR),
// and through the clock_gettime system call otherwise; a busy server asks
// for the time several times per request, and under emulation each system
// call costs microseconds. VDSOClockGettime (vdso_amd64.s) answers in
// ring 3 from the TSC and these parameters, which package clock keeps:
//
//	ns = ((tsc - TSCBase) * Mult) >> ClockShift    (CLOCK_MONOTONIC)
//	   + Wall                                      (CLOCK_REALTIME)
//
// The parameters live in the image's data, which the program can read
// (one address space); Wall is one aligned word, so a clock_settime
// racing a reader is seen either before or after.
var VDSOClock struct {
	TSCBase uint64 // TSC at boot
	Mult    uint64 // ns per tick << ClockShift
	Wall    int64  // CLOCK_REALTIME - CLOCK_MONOTONIC, in ns
	Ready   uint64 // nonzero once the TSC is calibrated
}

// ClockShift is the fixed-point shift of VDSOClock.Mult (vdso_amd64.s
// uses it as a literal).
const ClockShift = 22

// VDSOClockGettimePC is the address of the vDSO's clock_gettime, a C-ABI
// function in the image's text (see vdso_amd64.s).
func VDSOClockGettimePC() uintptr

// VDSONanotime is the vDSO's CLOCK_MONOTONIC for Go code in ring 3 (the
// service goroutines): nanoseconds since boot from the TSC, without a
// system call or the runtime's vDSO call path. ok is false until the
// kernel has calibrated the TSC.
func VDSONanotime() (ns int64, ok bool) {
	if VDSOClock.Ready == 0 {
		return 0, false
	}
	d := Rdtsc() - VDSOClock.TSCBase
	m := VDSOClock.Mult
	// (d*m)>>ClockShift without overflowing 64 bits, as vdso_amd64.s.
	hi := (d >> 20) * m >> (ClockShift - 20)
	lo := (d & (1<<20 - 1)) * m >> ClockShift
	return int64(hi + lo), true
}

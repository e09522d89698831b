// Package clock keeps time: a monotonic clock from the CPU's time-stamp
// counter, calibrated at boot against the i8254 PIT, and the wall clock,
// read once from the CMOS real-time clock and then advanced by the TSC.
// The conversion's parameters live in amd64.VDSOClock, where the vDSO's
// clock_gettime reads them too: the program gets the same time with or
// without a system call.
//
// Execution context: trap context (//go:nosplit, no allocation).
package clock

import "github.com/stardust-go/stardust/kernel/arch/amd64"

var tscPerSec uint64 // TSC frequency in Hz

// ns = (ticks * p.Mult) >> nsShift; p.Wall is the Unix time in ns at p.TSCBase.
var p = &amd64.VDSOClock

const nsShift = amd64.ClockShift

// StartCalibration starts measuring the TSC against the PIT. The boot
// goes on with work that needs no clock (the scheduler's tables, the
// device scan, randomness) and calls FinishCalibration after it, so the
// calibration window overlaps that work instead of adding to the boot.
//
//go:nosplit
func StartCalibration() {
	for {
		amd64.Outb(0x43, 0x30) // channel 0, lo/hi byte, mode 0 (OUT rises at zero)
		amd64.Outb(0x40, 0xFF)
		amd64.Outb(0x40, 0xFF)
		// The count loads on the next PIT clock. Take the first reading
		// once it counts; a stale one (read before the load) shows as a
		// count that grew, which FinishCalibration catches. If the vCPU
		// was away long enough for the count to run out (55 ms: a busy
		// host), program it again.
		for {
			out, count, t := tightPITStatus()
			if out {
				break
			}
			if count < 0xFFFF {
				calPIT, calTSC = count, t
				return
			}
		}
	}
}

var (
	calPIT uint16 // PIT count at calTSC
	calTSC uint64
)

// calWindow is the least calibration window: 5 ms of a 1.19 MHz counter
// read within a microsecond gives the rate to about 0.02%.
const calWindow = pitHz / 200

// FinishCalibration completes the TSC measurement, waiting until the
// window since StartCalibration is at least 5 ms, and reads the wall
// clock. If the PIT ran out (the boot work took over 55 ms) it measures
// again from scratch.
//
//go:nosplit
func FinishCalibration() {
	for {
		out, count, t := tightPITStatus()
		if out || count > calPIT { // ran out, or the start read a stale count
			tscPerSec = calibrateTSC()
			break
		}
		if elapsed := uint64(calPIT - count); elapsed >= calWindow {
			tscPerSec = (t - calTSC) * pitHz / elapsed
			break
		}
	}
	if tscPerSec == 0 {
		tscPerSec = 2_000_000_000 // should not happen; keeps time moving
	}
	p.Mult = (1_000_000_000 << nsShift) / tscPerSec
	p.TSCBase = amd64.Rdtsc()
	p.Wall = readCMOS() * 1_000_000_000
	p.Ready = 1
}

// TSCHz is the measured TSC frequency.
//
//go:nosplit
func TSCHz() uint64 { return tscPerSec }

// Nanotime returns nanoseconds since boot (CLOCK_MONOTONIC).
//
//go:nosplit
func Nanotime() int64 {
	d := amd64.Rdtsc() - p.TSCBase
	// Split to avoid overflow: d can be ~2^43 after an hour at 2.5 GHz.
	hi := (d >> 20) * p.Mult
	lo := ((d & (1<<20 - 1)) * p.Mult) >> nsShift
	return int64(hi>>(nsShift-20) + lo)
}

// Walltime returns the Unix time in nanoseconds (CLOCK_REALTIME).
//
//go:nosplit
func Walltime() int64 { return p.Wall + Nanotime() }

// SetWalltime sets the wall clock (clock_settime).
//
//go:nosplit
func SetWalltime(ns int64) { p.Wall = ns - Nanotime() }

// TicksToNs converts a TSC tick count to nanoseconds.
//
//go:nosplit
func TicksToNs(t uint64) int64 { return int64((t * p.Mult) >> nsShift) }

// NsToTicks converts nanoseconds to TSC ticks.
//
//go:nosplit
func NsToTicks(ns int64) uint64 { return uint64(ns) * tscPerSec / 1_000_000_000 }

// The PIT runs at 1.193182 MHz. Channel 0 counts down from 65535 in mode
// 0 and is read with read-back commands, which also report whether it has
// reached zero; this works on every QEMU machine (microvm has no port 0x61
// for channel 2) and on real hardware. Its interrupt stays masked.
const pitHz = 1193182

//go:nosplit
func readPIT() uint16 {
	amd64.Outb(0x43, 0x00) // latch channel 0
	lo := amd64.Inb(0x40)
	hi := amd64.Inb(0x40)
	return uint16(hi)<<8 | uint16(lo)
}

// readPITStatusWidth latches channel 0's status and count with one
// read-back command: out is the OUT pin (in mode 0: the count has reached
// zero), tsc the TSC at the latch (the middle of the port write that
// latches, so the reads after it, each an exit to the hypervisor, add no
// error) and width how long that write took, in TSC ticks.
//
//go:nosplit
func readPITStatusWidth() (out bool, count uint16, tsc, width uint64) {
	t0 := amd64.Rdtsc()
	amd64.Outb(0x43, 0xC2) // read-back: latch count and status, channel 0
	t1 := amd64.Rdtsc()
	st := amd64.Inb(0x40)
	lo := amd64.Inb(0x40)
	hi := amd64.Inb(0x40)
	return st&0x80 != 0, uint16(hi)<<8 | uint16(lo), t0 + (t1-t0)/2, t1 - t0
}

// tightPITStatus is readPITStatus repeated a few times, keeping the
// reading whose latch the TSC brackets most tightly. A vCPU that the host
// deschedules during the latching port write (a busy host: milliseconds)
// would otherwise put its TSC stamp far from the latch, and a calibration
// window of 5 ms off by as much; one of several quick readings is almost
// always clean.
//
//go:nosplit
func tightPITStatus() (out bool, count uint16, tsc uint64) {
	best := ^uint64(0)
	for i := 0; i < 5; i++ {
		o, c, t, width := readPITStatusWidth()
		if o {
			return true, c, t
		}
		if width < best {
			best, count, tsc = width, c, t
		}
	}
	return false, count, tsc
}

// calibrateTSC counts TSC ticks across 5 ms of PIT ticks, all at once:
// the fallback when the overlapped measurement overran.
//
//go:nosplit
func calibrateTSC() uint64 {
	amd64.Outb(0x43, 0x34) // channel 0, lo/hi byte, mode 2
	amd64.Outb(0x40, 0)
	amd64.Outb(0x40, 0)
	const want = calWindow
	prev := readPIT()
	elapsed := uint32(0)
	t0 := amd64.Rdtsc()
	for elapsed < want {
		cur := readPIT()
		elapsed += uint32(prev - cur) // counts down, wraps at 65536
		prev = cur
	}
	t1 := amd64.Rdtsc()
	return (t1 - t0) * pitHz / uint64(elapsed)
}

//go:nosplit
func cmos(reg uint8) uint8 {
	amd64.Outb(0x70, reg)
	return amd64.Inb(0x71)
}

// readCMOS returns the RTC's time as Unix seconds (the RTC keeps UTC on
// QEMU). It reads twice until both agree, to avoid an update in between.
//
//go:nosplit
func readCMOS() int64 {
	var a, b [7]uint8
	for try := 0; try < 100; try++ {
		for cmos(0x0A)&0x80 != 0 { // update in progress
			amd64.Pause()
		}
		readRTC(&a)
		readRTC(&b)
		if a == b {
			break
		}
	}
	regB := cmos(0x0B)
	if regB&0x04 == 0 { // BCD
		for i := range a {
			a[i] = a[i]&0x0F + a[i]>>4*10
		}
	}
	sec, min, hour, day, mon := int64(a[0]), int64(a[1]), int64(a[2]&0x7F), int64(a[3]), int64(a[4])
	year := int64(a[5]) + int64(a[6])*100
	if a[6] == 0 {
		year += 2000
	}
	return daysFromCivil(year, mon, day)*86400 + hour*3600 + min*60 + sec
}

//go:nosplit
func readRTC(v *[7]uint8) {
	v[0], v[1], v[2] = cmos(0x00), cmos(0x02), cmos(0x04)
	v[3], v[4], v[5], v[6] = cmos(0x07), cmos(0x08), cmos(0x09), cmos(0x32)
}

// daysFromCivil returns the days since 1970-01-01 of a Gregorian date
// (Howard Hinnant's well-known algorithm).
//
//go:nosplit
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

package amd64

import "unsafe"

// The local APIC (Intel SDM vol. 3, ch. 11), reached through its MMIO page.
// Stardust uses its timer for preemption and timeouts, in TSC-deadline
// mode where the CPU has it (an absolute TSC value: no calibration, no
// rounding to timer ticks) and in one-shot mode otherwise, and masks the
// legacy 8259 PICs so nothing arrives through them.

// Register offsets.
const (
	apicID       = 0x020
	apicEOI      = 0x0B0
	apicSVR      = 0x0F0
	apicICRLow   = 0x300
	apicICRHigh  = 0x310
	apicLVTTimer = 0x320
	apicLVTLint0 = 0x350
	apicLVTLint1 = 0x360
	apicInitCnt  = 0x380
	apicCurCnt   = 0x390
	apicDivide   = 0x3E0
)

// APICPhysBase is the LAPIC's usual physical address (the MADT confirms it).
const APICPhysBase = 0xFEE00000

var apicBase uintptr // virtual address of the LAPIC page

//go:nosplit
func apicRead(reg uintptr) uint32 { return *(*uint32)(unsafe.Pointer(apicBase + reg)) }

//go:nosplit
func apicWrite(reg uintptr, v uint32) { *(*uint32)(unsafe.Pointer(apicBase + reg)) = v }

// InitAPIC enables this CPU's local APIC at virtual address base, masks the
// 8259 PICs and LINT0, and stops the timer.
//
//go:nosplit
func InitAPIC(base uintptr) {
	if base != 0 {
		apicBase = base // the same address on every CPU; 0 keeps it
	}
	// Remap the 8259s away from the exception vectors, then mask them all.
	Outb(0x20, 0x11)
	Outb(0xA0, 0x11)
	Outb(0x21, 0xF0)
	Outb(0xA1, 0xF8)
	Outb(0x21, 0x04)
	Outb(0xA1, 0x02)
	Outb(0x21, 0x01)
	Outb(0xA1, 0x01)
	Outb(0x21, 0xFF)
	Outb(0xA1, 0xFF)

	apicWrite(apicSVR, 0x100|VecSpurious) // software-enable
	apicWrite(apicLVTLint0, 1<<16)        // masked
	apicWrite(apicLVTTimer, 1<<16)
	apicWrite(apicDivide, 0xB) // divide by 1
	apicWrite(apicInitCnt, 0)
}

// APICID returns this CPU's local APIC ID.
//
//go:nosplit
func APICID() uint32 { return apicRead(apicID) >> 24 }

// EOI acknowledges the interrupt being handled.
//
//go:nosplit
func EOI() { apicWrite(apicEOI, 0) }

// TimerOneShot fires VecTimer once after count timer ticks (0 stops it).
//
//go:nosplit
func TimerOneShot(count uint32) {
	apicWrite(apicLVTTimer, VecTimer) // one-shot, unmasked
	apicWrite(apicInitCnt, count)
}

const msrTSCDeadline = 0x6E0

// HasTSCDeadline reports whether the LAPIC timer has TSC-deadline mode
// (CPUID leaf 1, ECX bit 24).
//
//go:nosplit
func HasTSCDeadline() bool {
	_, _, c, _ := Cpuid(1, 0)
	return c&(1<<24) != 0
}

// TimerDeadline fires VecTimer once when the TSC reaches tsc (0 stops the
// timer). The LVT is (re)put in TSC-deadline mode first; the fence orders
// that MMIO write before the MSR write, as the SDM asks.
//
//go:nosplit
func TimerDeadline(tsc uint64) {
	apicWrite(apicLVTTimer, VecTimer|2<<17)
	Mfence()
	Wrmsr(msrTSCDeadline, tsc)
}

// SetTimerDeadline re-arms a timer already in TSC-deadline mode (see
// TimerDeadline) for TSC value tsc, or disarms it (0): one MSR write.
//
//go:nosplit
func SetTimerDeadline(tsc uint64) { Wrmsr(msrTSCDeadline, tsc) }

// RestartTimer restarts a timer already in one-shot mode (see
// TimerOneShot) with count ticks (0 stops it): one register write.
//
//go:nosplit
func RestartTimer(count uint32) { apicWrite(apicInitCnt, count) }

// TimerCount returns the timer's current count.
//
//go:nosplit
func TimerCount() uint32 { return apicRead(apicCurCnt) }

// SendIPI sends a fixed interrupt with vector vec to the CPU with LAPIC ID
// dest.
//
//go:nosplit
func SendIPI(dest uint32, vec uint32) {
	apicWrite(apicICRHigh, dest<<24)
	apicWrite(apicICRLow, vec)
	for apicRead(apicICRLow)&(1<<12) != 0 { // delivery pending
		Pause()
	}
}

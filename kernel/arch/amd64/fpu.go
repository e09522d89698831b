package amd64

import "unsafe"

// Extended (FPU/SSE/AVX) state.
//
// Every trap from ring 3 saves the program's extended state in its Frame
// (Frame.FPU) and restores it on the way out. Threads switch by switching
// kernel stacks, and each thread's Frame sits at the top of its own stack,
// so this one save is also what makes context switches preserve the full
// state. With XSAVE (CR4.OSXSAVE) the state components enabled in XCR0 are
// saved: x87 and SSE always, AVX (the upper halves of the YMM registers)
// when the CPU has it. The Go runtime checks OSXSAVE and XCR0 before it
// uses AVX/AVX2 (in memmove, bytes, crypto), so enabling AVX here is what
// lets programs use it, and saving it is what keeps them correct.
//
// Traps that interrupt the kernel itself (ring 0) save only the legacy
// x87/SSE image (FXSAVE), which needs no 64-byte alignment. Kernel code
// may use AVX (memmove does, once the runtime sees it), but it runs with
// interrupts off, and the only ring-0 code an interrupt can cut into is
// the idle loop's HLT.

// FPUAreaSize is the room reserved in a Frame for the XSAVE image. XSAVE
// is enabled only for state components whose standard-format image fits.
const FPUAreaSize = 1024

// XCR0 state components.
const (
	xstateX87 = 1 << 0
	xstateSSE = 1 << 1
	xstateAVX = 1 << 2
)

// CPUID feature bits (leaf 1, ECX).
const (
	cpuidXSAVE = 1 << 26
	cpuidAVX   = 1 << 28
)

// xsaveMask is XCR0 once XSAVE is on (0 while the CPUs use FXSAVE); the
// trap entry and exit read it. xsaveSize is the size of the standard
// XSAVE image for it (CPUID 0xD.0 EBX).
var (
	xsaveMask uint64
	xsaveSize uint32
)

// XsaveMask returns the enabled XSAVE state components (0: FXSAVE only).
//
//go:nosplit
func XsaveMask() uint64 { return xsaveMask }

// XsaveSize returns the size of the XSAVE image of the enabled components
// (512, the FXSAVE image, without XSAVE).
//
//go:nosplit
func XsaveSize() uint32 {
	if xsaveMask == 0 {
		return 512
	}
	return xsaveSize
}

// setupFPU enables the FPU, SSE and, where the CPU has them, XSAVE and
// AVX on the calling CPU. Every CPU makes the same choice (they are the
// same model), and the boot CPU makes it before any program code runs.
//
//go:nosplit
func setupFPU() {
	// CR0.MP on, EM and TS off; CR4.OSFXSR and OSXMMEXCPT so SSE
	// instructions work and report SIMD exceptions as #XM.
	WriteCR0(ReadCR0()&^(1<<2|1<<3) | 1<<1 | 1<<5)
	WriteCR4(ReadCR4() | 1<<9 | 1<<10)
	Fninit()
	Ldmxcsr(0x1F80)

	_, _, c, _ := Cpuid(1, 0)
	if c&cpuidXSAVE == 0 {
		return
	}
	WriteCR4(ReadCR4() | 1<<18) // OSXSAVE
	mask := uint64(xstateX87 | xstateSSE)
	if c&cpuidAVX != 0 {
		if supported, _, _, _ := Cpuid(0xD, 0); supported&xstateAVX != 0 {
			mask |= xstateAVX
		}
	}
	Xsetbv(0, mask)
	// CPUID 0xD.0 EBX is the image size for what XCR0 enables now.
	if _, size, _, _ := Cpuid(0xD, 0); size > FPUAreaSize {
		mask = xstateX87 | xstateSSE
		Xsetbv(0, mask)
		_, size, _, _ = Cpuid(0xD, 0)
		xsaveSize = size
	} else {
		xsaveSize = size
	}
	xsaveMask = mask
}

// SaveFPU stores the current extended state at p (64-byte aligned), in
// the format the trap exit restores for ring 3: XSAVE with the enabled
// components, or FXSAVE.
//
//go:nosplit
func SaveFPU(p uintptr) {
	if xsaveMask == 0 {
		Fxsave(p)
		return
	}
	clearXsaveHeader(p)
	Xsave(p, xsaveMask)
}

// clearXsaveHeader zeroes the XSAVE header (bytes 512-575). XSAVE writes
// only its XSTATE_BV field; XRSTOR faults if the rest is not zero.
//
//go:nosplit
func clearXsaveHeader(p uintptr) {
	h := (*[8]uint64)(unsafe.Pointer(p + 512))
	for i := range h {
		h[i] = 0
	}
}

// SanitizeXsave makes an XSAVE image that came from the program (a signal
// frame) safe to restore: components limited to the enabled ones,
// standard format, reserved header bytes zero, MXCSR's reserved bits
// clear. Without XSAVE only MXCSR needs it.
//
//go:nosplit
func SanitizeXsave(p uintptr) {
	*(*uint32)(unsafe.Pointer(p + 24)) &= 0xFFFF
	if xsaveMask == 0 {
		return
	}
	h := (*[8]uint64)(unsafe.Pointer(p + 512))
	h[0] &= xsaveMask
	for i := 1; i < len(h); i++ {
		h[i] = 0
	}
}

func Xsetbv(reg uint32, v uint64)
func Xsave(p uintptr, mask uint64)

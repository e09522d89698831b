package amd64

import "unsafe"

// Frame is the register state saved on a kernel stack by every trap (see
// trap_amd64.s for how it is built). The field order is the push order
// reversed; the assembly depends on it.
type Frame struct {
	// The interrupted code's extended state: an XSAVE image (ring 3, when
	// XSAVE is on) or an FXSAVE image (see fpu.go). 64-byte aligned for
	// frames at the top of a thread's kernel stack (see KernelStackPad).
	FPU [FPUAreaSize]byte

	R15, R14, R13, R12, R11, R10, R9, R8 uint64
	RBP, RDI, RSI, RDX, RCX, RBX, RAX    uint64

	Vector  uint64 // 0-255, or VectorSyscall
	ErrCode uint64

	// Pushed by the CPU (or built the same way by syscallEntry).
	RIP, CS, RFLAGS, RSP, SS uint64
}

// FrameSize is the size of a Frame on the kernel stack.
const FrameSize = unsafe.Sizeof(Frame{})

// KernelStackPad is the gap left above a trap Frame at the top of a
// 64-byte-aligned kernel stack so that Frame.FPU is 64-byte aligned, as
// XSAVE requires (the top itself stays 16-byte aligned, as the CPU wants
// for the stack it switches to).
const KernelStackPad = (64 - FrameSize%64) % 64

// VectorSyscall marks a Frame built by the SYSCALL entry.
const VectorSyscall = 256

// Exception vectors used by the kernel.
const (
	VecDivide      = 0
	VecDebug       = 1
	VecNMI         = 2
	VecBreakpoint  = 3
	VecInvalidOp   = 6
	VecDoubleFault = 8
	VecGP          = 13
	VecPageFault   = 14
	VecFPU         = 16
	VecSIMD        = 19
	VecTimer       = 32   // LAPIC timer
	VecIPI         = 0xE0 // wake-up IPI (see smp.go for why so high)
	VecSpurious    = 255
)

// Selectors of the GDT built in descriptors.go. SYSCALL/SYSRET require the
// user data selector to precede the user code selector.
const (
	KernelCS = 0x08
	KernelDS = 0x10
	UserDS   = 0x18 | 3
	UserCS   = 0x20 | 3
	TSSSel   = 0x28
)

// RFLAGS bits.
const (
	FlagCF   = 1 << 0
	FlagTF   = 1 << 8
	FlagIF   = 1 << 9
	FlagDF   = 1 << 10
	FlagIOPL = 3 << 12
	FlagNT   = 1 << 14
	FlagAC   = 1 << 18
)

// FromUser reports whether the trap interrupted ring 3 (the program).
//
//go:nosplit
func (f *Frame) FromUser() bool { return f.CS&3 == 3 }

// Mxcsr returns the MXCSR saved in the FXSAVE (or XSAVE legacy) image.
//
//go:nosplit
func (f *Frame) Mxcsr() uint32 { return *(*uint32)(unsafe.Pointer(&f.FPU[24])) }

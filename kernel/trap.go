package kernel

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/boottrace"
	"github.com/stardust-go/stardust/kernel/klog"
	"github.com/stardust-go/stardust/kernel/linux"
	"github.com/stardust-go/stardust/kernel/mem"
	"github.com/stardust-go/stardust/kernel/platform"
	"github.com/stardust-go/stardust/kernel/sched"
)

// trap is the kernel's handler for every interrupt, exception and system
// call (see amd64.TrapHandler). Faults in the program become signals; faults
// in the kernel are bugs and end the VM with a report.
//
//go:nosplit
func trap(f *amd64.Frame) {
	if f.FromUser() {
		boottrace.Enter(f.Vector, f.RAX)
	}
	switch v := f.Vector; {
	case v == amd64.VectorSyscall:
		linux.Syscall(f)
	case v == amd64.VecTimer:
		if f.FromUser() {
			boottrace.Sample(f.RIP)
		}
		sched.Tick(f.FromUser())
	case v == amd64.VecPageFault:
		boottrace.Fault()
		pageFault(f)
	case v == amd64.VecSpurious:
		// No EOI for spurious interrupts.
	case v < 32:
		exception(f)
	case v >= linux.VectorIRQBase && v < linux.VectorIRQBase+linux.VectorIRQCount:
		linux.Interrupt(v - linux.VectorIRQBase)
	default:
		amd64.EOI()
	}
	if f.FromUser() {
		linux.ReturnToUser(f)
		boottrace.Leave()
	}
}

// Page-fault error code bits.
const (
	pfPresent = 1 << 0
	pfWrite   = 1 << 1
	pfUser    = 1 << 2
	pfFetch   = 1 << 4
)

//go:nosplit
func pageFault(f *amd64.Frame) {
	addr := uintptr(amd64.ReadCR2())
	write, exec := f.ErrCode&pfWrite != 0, f.ErrCode&pfFetch != 0
	if !f.FromUser() {
		// The kernel touches program memory only after mem.EnsureUser, so
		// this is a kernel bug, whatever the address.
		kernelPanic(f, "page fault in the kernel")
	}
	switch mem.HandleFault(addr, write, exec) {
	case mem.FaultHandled:
		return
	case mem.FaultNoMem:
		klog.Line("out of memory: the program needs more than the VM has (see stardust run -m)")
		platform.Exit(137) // as if killed by SIGKILL, like Linux's OOM killer
	case mem.FaultAccess:
		linux.PostFault(sched.Current(), linux.SigSEGV, linux.SegvAccerr, uint64(addr))
	default:
		linux.PostFault(sched.Current(), linux.SigSEGV, linux.SegvMaperr, uint64(addr))
	}
}

//go:nosplit
func exception(f *amd64.Frame) {
	if !f.FromUser() {
		kernelPanic(f, "exception in the kernel")
	}
	t := sched.Current()
	switch f.Vector {
	case amd64.VecDivide:
		linux.PostFault(t, linux.SigFPE, linux.FpeIntdiv, f.RIP)
	case amd64.VecFPU, amd64.VecSIMD:
		linux.PostFault(t, linux.SigFPE, 0, f.RIP)
	case amd64.VecInvalidOp:
		linux.PostFault(t, linux.SigILL, linux.IllIllopn, f.RIP)
	case amd64.VecBreakpoint, amd64.VecDebug:
		linux.PostFault(t, linux.SigTRAP, 0, f.RIP)
	case amd64.VecGP, 12, 11, 17: // #GP, #SS, #NP, #AC
		linux.PostFault(t, linux.SigSEGV, 0x80, 0) // SI_KERNEL, as Linux reports a #GP
	default:
		kernelPanic(f, "unexpected exception from the program")
	}
}

var exceptionNames = [32]string{
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
	"invalid opcode", "device not available", "double fault", "coprocessor overrun",
	"invalid TSS", "segment not present", "stack fault", "general protection",
	"page fault", "reserved", "x87 FPU error", "alignment check", "machine check",
	"SIMD exception", "virtualization", "control protection",
}

// kernelPanic prints a report and powers the VM off. `stardust run`
// symbolizes the addresses (it has the image's symbol table).
//
//go:nosplit
func kernelPanic(f *amd64.Frame, why string) {
	klog.Str("\n")
	klog.Str(klog.Prefix)
	klog.Str("KERNEL PANIC: ")
	klog.Str(why)
	klog.Str(": vector ")
	klog.Dec(int64(f.Vector))
	if f.Vector < 32 {
		klog.Str(" (")
		klog.Str(exceptionNames[f.Vector])
		klog.Str(")")
	}
	klog.Str(" error ")
	klog.Hex(f.ErrCode)
	klog.Str(" cr2 ")
	klog.Hex(amd64.ReadCR2())
	klog.Str("\n")
	reg("rip", f.RIP, "rsp", f.RSP, "rflags", f.RFLAGS)
	reg("rax", f.RAX, "rbx", f.RBX, "rcx", f.RCX)
	reg("rdx", f.RDX, "rsi", f.RSI, "rdi", f.RDI)
	reg("rbp", f.RBP, "r8", f.R8, "r9", f.R9)
	reg("r10", f.R10, "r11", f.R11, "r12", f.R12)
	reg("r13", f.R13, "r14", f.R14, "r15", f.R15)
	reg("cs", f.CS, "ss", f.SS, "cr3", amd64.ReadCR3())
	klog.Line("backtrace:")
	pc(f.RIP)
	bp := uintptr(f.RBP)
	for i := 0; i < 32 && bp != 0 && bp&7 == 0; i++ {
		if mem.Lookup(bp)&mem.PTEPresent == 0 && !inImage(bp) {
			break
		}
		ret := *(*uint64)(unsafe.Pointer(bp + 8))
		if ret == 0 {
			break
		}
		pc(ret)
		bp = *(*uintptr)(unsafe.Pointer(bp))
	}
	platform.Panic()
}

//go:nosplit
func inImage(a uintptr) bool { return a >= imageBase && a < imageBase+1<<30 }

//go:nosplit
func pc(v uint64) {
	klog.Str(klog.Prefix)
	klog.Str("  pc ")
	klog.Hex(v)
	klog.Str("\n")
}

//go:nosplit
func reg(n1 string, v1 uint64, n2 string, v2 uint64, n3 string, v3 uint64) {
	klog.Str(klog.Prefix)
	klog.Str(n1)
	klog.Str("=")
	klog.Hex(v1)
	klog.Str(" ")
	klog.Str(n2)
	klog.Str("=")
	klog.Hex(v2)
	klog.Str(" ")
	klog.Str(n3)
	klog.Str("=")
	klog.Hex(v3)
	klog.Str("\n")
}

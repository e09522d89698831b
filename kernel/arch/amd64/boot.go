package amd64

import _ "unsafe" // for go:linkname

// The kernel's two entry points, in package kernel: kernelMain (boot) and
// trap (every interrupt, exception and system call, with the saved Frame;
// what it changes in the Frame is what the interrupted code resumes with).
// The architecture layer cannot import the kernel (the kernel imports it),
// so these calls are resolved by the linker. They are Stardust's only
// go:linkname uses, and they are between Stardust's own packages (a
// function variable would need a pointer store, and so a write barrier).
//
//go:linkname kernelMain github.com/stardust-go/stardust/kernel.kernelMain
func kernelMain(startInfo uintptr)

//go:linkname kernelTrap github.com/stardust-go/stardust/kernel.trap
func kernelTrap(f *Frame)

// trapGo runs the kernel's trap handler under the kernel lock. Two cases
// skip the lock: a TLB shootdown (its sender holds the lock and waits for
// us) and an exception in the kernel itself (a bug: the lock may be ours
// already, and the report must not wait).
//
//go:nosplit
func trapGo(f *Frame) {
	if f.Vector == VecTLB {
		tlbInterrupt()
		return
	}
	if f.Vector == VecWake && f.CS&3 == 0 {
		// A wake-up for a CPU halted in the kernel (idle, or waiting for
		// the lock): being woken is all it needed.
		EOI()
		return
	}
	if f.CS&3 == 0 && f.Vector < 32 {
		kernelTrap(f)
		return
	}
	Lock()
	kernelTrap(f)
	Unlock()
}

// boot64 is called by pvhEntry once the CPU is in 64-bit mode, on the boot
// stack, with the physical address of hvm_start_info.
//
//go:nosplit
func boot64(startInfo uintptr) {
	kernelMain(startInfo)
	for {
		Cli()
		Hlt()
	}
}

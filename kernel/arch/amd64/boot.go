package amd64

import _ "unsafe" // for go:linkname

// TrapHandler is called for every interrupt, exception and system call with
// the saved Frame; the kernel sets it before enabling interrupts. What it
// changes in the Frame is what the interrupted code resumes with.
var TrapHandler func(f *Frame)

//go:nosplit
func trapGo(f *Frame) {
	TrapHandler(f)
}

// kernelMain is the kernel's Go entry point, in package kernel. The
// architecture layer cannot import the kernel (the kernel imports it), so
// the call is resolved by the linker. This is the one go:linkname in
// Stardust, and it is between Stardust's own packages.
//
//go:linkname kernelMain github.com/stardust-go/stardust/kernel.kernelMain
func kernelMain(startInfo uintptr)

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

// Package amd64 is the architecture layer of the Stardust kernel: everything
// that must be written in assembly or that encodes an x86-64 hardware format.
//
//   - entry_amd64.s: the PVH entry point (32-bit protected mode, paging off),
//     the switch to long mode and the call into the kernel's Go code.
//   - trap_amd64.s: the interrupt/exception vectors and the SYSCALL entry,
//     which both build a Frame on the current thread's kernel stack, and the
//     kernel-stack switch used by the scheduler.
//   - cpu_amd64.s: one-instruction helpers (port I/O, MSRs, control registers,
//     CPUID, TSC, RDRAND, HLT, ...).
//   - descriptors.go: the GDT, TSS and IDT.
//
// Execution context: trap context. Every function here is //go:nosplit (or
// NOSPLIT assembly), runs with interrupts disabled on a kernel stack,
// allocates nothing and stores no Go pointers. The Go program itself runs in
// ring 3; the kernel runs in ring 0 in the same address space.
//
// Why ring 3 for the program: interrupts and system calls then arrive on a
// per-thread kernel stack (TSS.RSP0, GS-based for SYSCALL) instead of on a
// small goroutine stack, and the kernel's own memory (page tables, kernel
// stacks, thread table) is mapped supervisor-only, so a wild pointer in the
// program faults instead of corrupting the kernel.
package amd64

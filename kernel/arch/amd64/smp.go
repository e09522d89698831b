package amd64

import (
	"sync/atomic"
	"unsafe"
)

import _ "unsafe" // for go:linkname

// Multiprocessor support: the kernel lock, the application-processor
// start-up trampoline, IPIs and TLB shootdowns.
//
// The kernel lock is one lock around all of trap context (a "big kernel
// lock"): a trap takes it on entry (trapGo) and drops it on the way out, a
// context switch carries it to the next thread, and an idle CPU drops it
// while it halts. Threads in ring 3 run on every CPU at once; the kernel
// runs on one at a time. It is the simplest design that is correct, and
// the kernel's data structures need no finer locks.

var (
	kernelLock  uint32
	lockWaiters uint32 // bit i: CPU i halted waiting for the lock
)

// Lock takes the kernel lock. It spins a while with interrupts let in (so
// a shootdown or wake-up aimed at this CPU is answered), then halts until
// the holder's Unlock wakes it: with more virtual CPUs than the host has
// cores, a spinning CPU would take the host core the holder needs.
//
//go:nosplit
func Lock() {
	for spins := 0; !atomic.CompareAndSwapUint32(&kernelLock, 0, 1); spins++ {
		if spins < 50_000 {
			spinWindow()
			continue
		}
		c := (*CPUBlock)(unsafe.Pointer(CPUSelf()))
		bit := uint32(1) << (c.Index & 31)
		atomic.OrUint32(&lockWaiters, bit)
		if atomic.CompareAndSwapUint32(&kernelLock, 0, 1) {
			atomic.AndUint32(&lockWaiters, ^bit)
			return
		}
		WaitForInterrupt()
		atomic.AndUint32(&lockWaiters, ^bit)
		spins = 0
	}
}

// Unlock releases the kernel lock and wakes every halted waiter (waking
// just one could pick a CPU whose bit is set but that is already awake,
// and leave the others halted with no timer to wake them).
//
//go:nosplit
func Unlock() {
	atomic.StoreUint32(&kernelLock, 0)
	w := atomic.LoadUint32(&lockWaiters)
	for i := 0; w != 0 && i < nonline; i, w = i+1, w>>1 {
		if w&1 != 0 {
			SendIPI(onlineIDs[i], VecWake)
		}
	}
}

func spinWindow()
func threadStart()
func apEntry()
func apEntryPC() uintptr
func threadStartPC() uintptr

// CPUSelf returns the running CPU's CPUBlock address (GS:0).
func CPUSelf() uintptr

// ReloadCR3 flushes this CPU's TLB (non-global entries).
func ReloadCR3()

// ThreadStartPC is where a new thread's first Swtch returns to.
//
//go:nosplit
func ThreadStartPC() uintptr { return threadStartPC() }

// kernelAPMain is the kernel's entry for an application processor, on
// its own stack (linked by name like kernelMain, see boot.go).
//
//go:linkname kernelAPMain github.com/stardust-go/stardust/kernel.apMain
func kernelAPMain(index int)

//go:nosplit
func apGo(index int) {
	kernelAPMain(index)
	for {
		Cli()
		Hlt()
	}
}

// The real-mode trampoline (Intel SDM vol. 3, 8.4.4): a started AP begins
// at TrampolineAddr in 16-bit real mode. The code below switches to
// protected mode with a small GDT, enables PAE, long mode and paging with
// the kernel's page tables, and jumps to apEntry. Its parameters are at
// fixed offsets in the same page (apParams).
const (
	TrampolineAddr = 0x8000
	apParams       = 0x8F00 // cr3 u32, stack u64 @+8, entry u64 @+16, tls u64 @+24, index u64 @+32
	apGDT          = 0x8F40 // 4 entries; GDTR at apGDT+0x20
)

// trampoline is machine code (the Go assembler has no 16-bit mode); each
// line says what it encodes.
var trampoline = [...]byte{
	// 0x8000, 16-bit real mode (CS = 0x0800, IP = 0)
	0xFA,       // cli
	0x31, 0xC0, // xor ax, ax
	0x8E, 0xD8, // mov ds, ax
	0x0F, 0x01, 0x16, 0x60, 0x8F, // lgdt [0x8F60]
	0x0F, 0x20, 0xC0, // mov eax, cr0
	0x0C, 0x01, // or al, 1 (PE)
	0x0F, 0x22, 0xC0, // mov cr0, eax
	0x66, 0xEA, 0x20, 0x80, 0x00, 0x00, 0x08, 0x00, // jmp dword 0x08:0x8020
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, // pad to 0x8020
	// 0x8020, 32-bit protected mode
	0x66, 0xB8, 0x10, 0x00, // mov ax, 0x10
	0x8E, 0xD8, // mov ds, ax
	0x8E, 0xC0, // mov es, ax
	0x8E, 0xD0, // mov ss, ax
	0x0F, 0x20, 0xE0, // mov eax, cr4
	0x0D, 0x20, 0x06, 0x00, 0x00, // or eax, PAE|OSFXSR|OSXMMEXCPT
	0x0F, 0x22, 0xE0, // mov cr4, eax
	0xA1, 0x00, 0x8F, 0x00, 0x00, // mov eax, [0x8F00] (cr3)
	0x0F, 0x22, 0xD8, // mov cr3, eax
	0xB9, 0x80, 0x00, 0x00, 0xC0, // mov ecx, IA32_EFER
	0x0F, 0x32, // rdmsr
	0x0D, 0x01, 0x09, 0x00, 0x00, // or eax, LME|NXE|SCE
	0x0F, 0x30, // wrmsr
	0x0F, 0x20, 0xC0, // mov eax, cr0
	0x25, 0xFB, 0xFF, 0xFF, 0x9F, // and eax, ~(CD|NW|EM)
	0x0D, 0x02, 0x00, 0x01, 0x80, // or eax, PG|WP|MP
	0x0F, 0x22, 0xC0, // mov cr0, eax
	0xEA, 0x80, 0x80, 0x00, 0x00, 0x18, 0x00, // jmp 0x18:0x8080
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, // pad to 0x8080
	// 0x8080, 64-bit mode
	0x48, 0x8B, 0x24, 0x25, 0x08, 0x8F, 0x00, 0x00, // mov rsp, [0x8F08]
	0x48, 0x8B, 0x34, 0x25, 0x18, 0x8F, 0x00, 0x00, // mov rsi, [0x8F18] (tls)
	0x48, 0x8B, 0x3C, 0x25, 0x20, 0x8F, 0x00, 0x00, // mov rdi, [0x8F20] (index)
	0x48, 0x8B, 0x04, 0x25, 0x10, 0x8F, 0x00, 0x00, // mov rax, [0x8F10] (entry)
	0xFF, 0xE0, // jmp rax
}

// PrepareTrampoline copies the trampoline and its GDT to the page at
// virtual address va (which maps physical TrampolineAddr).
//
//go:nosplit
func PrepareTrampoline(va uintptr, cr3 uint32) {
	for i := range trampoline {
		*(*byte)(unsafe.Pointer(va + uintptr(i))) = trampoline[i]
	}
	gdt := (*[4]uint64)(unsafe.Pointer(va + apGDT - TrampolineAddr))
	gdt[0] = 0
	gdt[1] = 0x00CF9A000000FFFF // 32-bit code
	gdt[2] = 0x00CF92000000FFFF // data
	gdt[3] = 0x00AF9A000000FFFF // 64-bit code
	gdtr := va + apGDT - TrampolineAddr + 0x20
	*(*uint16)(unsafe.Pointer(gdtr)) = 4*8 - 1
	*(*uint32)(unsafe.Pointer(gdtr + 2)) = apGDT
	*(*uint32)(unsafe.Pointer(va + apParams - TrampolineAddr)) = cr3
	*(*uint64)(unsafe.Pointer(va + apParams - TrampolineAddr + 16)) = uint64(apEntryPC())
}

// SetAPParams sets the stack, TLS block and index for the next AP.
//
//go:nosplit
func SetAPParams(va uintptr, stack, tls uintptr, index int) {
	p := va + apParams - TrampolineAddr
	*(*uint64)(unsafe.Pointer(p + 8)) = uint64(stack)
	*(*uint64)(unsafe.Pointer(p + 24)) = uint64(tls)
	*(*uint64)(unsafe.Pointer(p + 32)) = uint64(index)
}

// StartAP sends INIT, then two STARTUPs (vector = trampoline page), to the
// processor with LAPIC ID dest (SDM vol. 3, 8.4.4.1). wait(ns) delays.
//
//go:nosplit
func StartAP(dest uint32, delay func(ns int64)) {
	apicWrite(apicICRHigh, dest<<24)
	apicWrite(apicICRLow, 0x00004500) // INIT, assert, level
	waitICR()
	delay(10_000_000)
	for i := 0; i < 2; i++ {
		apicWrite(apicICRHigh, dest<<24)
		apicWrite(apicICRLow, 0x00004600|TrampolineAddr>>12) // STARTUP
		waitICR()
		delay(200_000)
	}
}

//go:nosplit
func waitICR() {
	for apicRead(apicICRLow)&(1<<12) != 0 {
		Pause()
	}
}

// IPI vectors. The LAPIC delivers a vector only if its priority class
// (vector/16) is above that of every interrupt the CPU is still handling
// (not yet EOI'd). A CPU waiting for the kernel lock inside a timer or
// device interrupt handler must still receive these, so they sit above
// every other vector: otherwise a shootdown waits for a CPU that waits for
// the lock (seen: a hang with four vCPUs).
const (
	VecWake = VecIPI // 0xE0: wake a halted CPU / make it re-check signals
	VecTLB  = 0xF0   // flush the TLB (shootdown)
)

// tlbPending counts CPUs that have not yet flushed for the current
// shootdown.
var tlbPending int32

// ShootdownTLB makes every other CPU in ids flush its TLB and waits for
// them. The caller holds the kernel lock; the others may be spinning for
// it, which they do with interrupts let in (Lock), so they answer.
//
//go:nosplit
func ShootdownTLB(self uint32, ids []uint32) {
	n := int32(0)
	for _, id := range ids {
		if id != self {
			n++
		}
	}
	if n == 0 {
		return
	}
	atomic.StoreInt32(&tlbPending, n)
	for _, id := range ids {
		if id != self {
			SendIPI(id, VecTLB)
		}
	}
	for atomic.LoadInt32(&tlbPending) > 0 {
		Pause()
	}
}

//go:nosplit
func tlbInterrupt() {
	ReloadCR3()
	EOI()
	atomic.AddInt32(&tlbPending, -1)
}

// The online CPUs' LAPIC IDs, for IPIs to all.
var (
	onlineIDs [16]uint32
	nonline   int
)

// AddOnlineCPU records a CPU that is up.
//
//go:nosplit
func AddOnlineCPU(id uint32) {
	if nonline < len(onlineIDs) {
		onlineIDs[nonline] = id
		nonline++
	}
}

// ShootdownAll makes every other online CPU flush its TLB (after the
// caller changed or removed mappings).
//
//go:nosplit
func ShootdownAll() {
	if nonline > 1 {
		ShootdownTLB(APICID(), onlineIDs[:nonline])
	}
}

// Package kernel is the Stardust kernel. `stardust build` links it into an
// unmodified Go program by adding `import _ "github.com/stardust-go/stardust/kernel"`
// to its main package; the image's entry point is then the kernel's, which
// sets up the machine and starts the Go runtime as Linux would.
//
// Boot, in order (kernelMain):
//  1. console, boot information (hvm_start_info), the program's own ELF headers;
//  2. physical memory, the kernel's page tables, the program image mapped
//     with its permissions (text read-only+executable, data non-executable);
//  3. descriptor tables, SYSCALL, the LAPIC timer, randomness and the
//     device scan, while the clocks' calibration windows run;
//  4. the first thread: a Linux process-start stack and a return to ring 3
//     at the program's ELF entry point (_rt0_amd64_linux).
//
// Execution context: trap context for everything in this file and trap.go.
// The package's init (service context, ordinary Go) starts the kernel's
// service goroutines once the runtime runs.
package kernel

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/boottrace"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/drivers/acpi"
	"github.com/stardust-go/stardust/kernel/drivers/uart"
	"github.com/stardust-go/stardust/kernel/klog"
	"github.com/stardust-go/stardust/kernel/linux"
	"github.com/stardust-go/stardust/kernel/mem"
	"github.com/stardust-go/stardust/kernel/platform"
	"github.com/stardust-go/stardust/kernel/rand"
	"github.com/stardust-go/stardust/kernel/sched"
)

// hvm_start_info (PVH boot protocol, version 1).
type startInfo struct {
	Magic        uint32
	Version      uint32
	Flags        uint32
	NrModules    uint32
	ModlistPaddr uint64
	CmdlinePaddr uint64
	RsdpPaddr    uint64
	MemmapPaddr  uint64
	MemmapCount  uint32
	_            uint32
}

type memmapEntry struct {
	Addr, Size uint64
	Type       uint32
	_          uint32
}

const startInfoMagic = 0x336EC578

// The program's ELF image is linked at this address by Go's linker (its
// default for linux/amd64), with the ELF and program headers at its start.
const imageBase = 0x400000

// User stack of the first thread.
const (
	stackTop  = 0x7FFF_FFFF_0000
	stackSize = 8 << 20
	stackInit = 64 << 10 // built and faulted in at boot
)

// Boot-time state lives in globals rather than on the boot stack: the
// linker limits how deep a chain of nosplit frames may go.
var (
	img        image
	procStart  linux.StartInfo
	cmdline    [4096]byte
	cmdlineLen int
	ramRanges  [32]mem.Range
	nram       int
)

// Info describes the running kernel, for diagnostics.
var bootInfo struct {
	MemoryBytes uint64
	RSDP        uint64
}

// kernelMain is called by the architecture layer on the boot stack, in
// 64-bit mode with the first GiB identity-mapped.
//
//go:nosplit
func kernelMain(info uintptr) {
	boottrace.Mark(boottrace.Entry)
	uart.Init()
	si := (*startInfo)(unsafe.Pointer(info))
	if si.Magic != startInfoMagic {
		klog.Line("boot: not started by the PVH boot protocol (bad hvm_start_info magic)")
		platform.Panic()
	}
	bootInfo.RSDP = si.RsdpPaddr
	copyCmdline(uintptr(si.CmdlinePaddr))
	if samples := linux.HasOption(cmdline[:cmdlineLen], "stardust.boottrace.samples"); samples || linux.HasOption(cmdline[:cmdlineLen], "stardust.boottrace") {
		boottrace.Enable(samples)
	}
	if linux.HasOption(cmdline[:cmdlineLen], "stardust.profile") {
		boottrace.EnableProfile(30_000) // from about 3 s after boot
	}

	if !readImage(&img) {
		klog.Line("boot: the program's ELF headers are not at 0x400000")
		platform.Panic()
	}
	setupMemory(si, &img)
	boottrace.Mark(boottrace.Memory)

	// The TSC and LAPIC timer rates are measured across the work that
	// needs no clock (calibration windows cost milliseconds; overlapped,
	// they cost nothing). The scheduler's rate is derived from the TSC's,
	// so the clock finishes first.
	clock.StartCalibration()
	if !sched.Init(mem.MapDevice(amd64.APICPhysBase, mem.PageSize)) {
		klog.Line("boot: out of memory setting up the CPU")
		platform.Panic()
	}
	boottrace.Mark(boottrace.Sched)
	rand.Init()
	linux.Init()
	linux.SetCmdline(uintptr(unsafe.Pointer(&cmdline[0])), uintptr(cmdlineLen))
	findDevices()
	boottrace.Mark(boottrace.Devices)
	// The first thread is built before the other CPUs start, so without
	// the kernel lock.
	t := startProcess(&img)
	if t == nil {
		klog.Line("boot: cannot create the first thread")
		platform.Panic()
	}
	clock.FinishCalibration()
	sched.FinishCalibration()
	boottrace.Mark(boottrace.Clock)

	if linux.HasOption(cmdline[:cmdlineLen], "stardust.selftest-panic") {
		selfTestPanic() // proves the panic path: `stardust run` tests use it
	}

	startAPs()
	boottrace.Mark(boottrace.CPUs)

	amd64.Lock()
	boottrace.Mark(boottrace.Process)
	sched.Start(t)
}

//go:nosplit
func copyCmdline(pa uintptr) {
	if pa == 0 {
		return
	}
	src := (*[len(cmdline)]byte)(unsafe.Pointer(pa))
	for cmdlineLen < len(cmdline)-1 && src[cmdlineLen] != 0 {
		cmdline[cmdlineLen] = src[cmdlineLen]
		cmdlineLen++
	}
}

// setupMemory gives RAM to the frame allocator (except the first MiB and
// the image), builds the kernel's page tables and switches to them.
//
//go:nosplit
func setupMemory(si *startInfo, img *image) {
	reserved := [2]mem.Range{{Start: 0, End: 1 << 20}, {Start: img.start, End: img.end}}
	entries := (*[128]memmapEntry)(unsafe.Pointer(uintptr(si.MemmapPaddr)))
	maxPhys := uintptr(4 << 30) // cover the 32-bit device hole (LAPIC, IOAPIC, MMIO)
	for i := 0; i < int(si.MemmapCount) && i < len(entries); i++ {
		e := entries[i]
		if e.Type != 1 || e.Size == 0 {
			continue
		}
		start, end := uintptr(e.Addr), uintptr(e.Addr+e.Size)
		bootInfo.MemoryBytes += e.Size
		if nram < len(ramRanges) {
			ramRanges[nram] = mem.Range{Start: start, End: end}
			nram++
		}
		if end > maxPhys {
			maxPhys = end
		}
		mem.AddRAM(start, end, reserved[:])
	}
	maxPhys = (maxPhys + 2<<20 - 1) &^ (2<<20 - 1)
	if !mem.BuildKernelSpace(maxPhys, ramRanges[:nram]) {
		klog.Line("boot: out of memory building page tables")
		platform.Panic()
	}
	for i := 0; i < img.nseg; i++ {
		s := &img.segs[i]
		flags := uint64(mem.PTEUser)
		if s.flags&pfW != 0 {
			flags |= mem.PTEWrite
		}
		if s.flags&pfX == 0 {
			flags |= mem.PTENoExec
		}
		if !mem.MapIdentity(s.vaddr, s.vaddr+s.memsz, flags) {
			klog.Line("boot: out of memory mapping the image")
			platform.Panic()
		}
	}
	mem.Activate()
}

// startProcess builds the first thread: its stack holds argv, envp and
// auxv; it starts at the ELF entry point in ring 3.
//
//go:nosplit
func startProcess(img *image) *sched.Thread {
	if mem.Map(stackTop-stackSize, stackSize, mem.ProtRead|mem.ProtWrite, true) == 0 ||
		!mem.EnsureUser(stackTop-stackInit, stackInit, true) {
		return nil
	}
	si := &procStart
	rand.Read(si.Random[:])
	si.Phdr, si.Phnum, si.Entry = uint64(img.phdr), uint64(img.phnum), uint64(img.entry)
	stack := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(stackTop-stackInit))), stackInit)
	sp := linux.BuildStack(stack, stackTop, cmdline[:cmdlineLen], si)
	if sp == 0 {
		klog.Line("boot: command line too long for the initial stack")
		return nil
	}
	// The Frame to "return" to lives in a scratch page (XSAVE needs 64-byte
	// alignment, and a 1200-byte local would not fit a nosplit stack frame).
	page := mem.AllocZeroFrame()
	if page == 0 {
		return nil
	}
	f := (*amd64.Frame)(unsafe.Pointer(mem.P2V(page)))
	amd64.SaveFPU(uintptr(unsafe.Pointer(&f.FPU)))
	f.RIP = uint64(img.entry)
	f.CS = amd64.UserCS
	f.SS = amd64.UserDS
	f.RSP = uint64(sp)
	f.RFLAGS = amd64.FlagIF | 2
	t := sched.NewThread(f)
	mem.FreeFrame(page)
	return t
}

// selfTestPanic faults on purpose, as a kernel bug would: a write to an
// address no page table maps.
//
//go:nosplit
//go:noinline
func selfTestPanic() {
	*(*uint64)(unsafe.Pointer(uintptr(0xFFFF_F000_DEAD_0000))) = 1
}

var madt acpi.MADT

// findDevices reads the MADT for the I/O APICs and looks for virtio-mmio
// transports (QEMU microvm, Firecracker). PCI devices are found by the
// service side.
//
//go:nosplit
func findDevices() {
	if acpi.ReadMADT(uintptr(bootInfo.RSDP), mem.DirectMapBase, &madt) {
		for i := 0; i < madt.NIOAPIC; i++ {
			a := &madt.IOAPICs[i]
			amd64.AddIOAPIC(mem.MapDevice(uintptr(a.Addr), mem.PageSize), a.GSIBase)
		}
	} else {
		// No ACPI (microvm acpi=off): the one I/O APIC at its usual address.
		amd64.AddIOAPIC(mem.MapDevice(0xFEC00000, mem.PageSize), 0)
	}
	// microvm places up to 24 virtio-mmio transports 512 bytes apart from
	// 0xfeb00000. Their interrupt lines follow QEMU's layout: GSI 24+i on
	// the second I/O APIC when it exists, else 16+i with ACPI, else 5+i.
	const base, stride = 0xFEB00000, 0x200
	gsiBase := uint32(5)
	switch {
	case amd64.HasGSIBase(24):
		gsiBase = 24
	case bootInfo.RSDP != 0:
		gsiBase = 16
	}
	for i := uintptr(0); i < 24; i++ {
		regs := mem.DirectMapBase + base + i*stride
		if *(*uint32)(unsafe.Pointer(regs)) != 0x74726976 { // "virt"
			break
		}
		id := *(*uint32)(unsafe.Pointer(regs + 8))
		if id == 0 {
			continue // an empty transport
		}
		linux.AddDevice(bridge.Device{Kind: bridge.DevVirtioMMIO, ID: id, Phys: uint64(base + i*stride), Size: stride, GSI: gsiBase + uint32(i)})
	}
}
